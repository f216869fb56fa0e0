// xml_check.cpp - a recursive-descent walk over the document that stops at the first fault.
#include "xml_check.hpp"

#include <cctype>
#include <cstring>
#include <vector>

namespace cxtest {
namespace {

class walker {
public:
    explicit walker(const std::string& t) : t_(t) {}

    xml_summary run() {
        skip_space();
        if (t_.compare(i_, 5, "<?xml") == 0 && !skip_past("?>")) return fail("unclosed <?xml");
        skip_misc();
        if (!element()) return out_;
        skip_misc();
        if (i_ != t_.size()) return fail("content after the root element");
        return out_;
    }

private:
    xml_summary& fail(const std::string& what) {
        if (out_.error.empty()) out_.error = what + " at byte " + std::to_string(i_);
        return out_;
    }
    bool at_end() const { return i_ >= t_.size(); }
    void skip_space() {
        while (!at_end() && std::isspace(static_cast<unsigned char>(t_[i_]))) ++i_;
    }
    bool skip_past(const char* end) {
        size_t at = t_.find(end, i_);
        if (at == std::string::npos) return false;
        i_ = at + std::strlen(end);
        return true;
    }
    // Whitespace and comments between elements.
    void skip_misc() {
        for (;;) {
            skip_space();
            if (t_.compare(i_, 4, "<!--") != 0) return;
            if (!skip_past("-->")) {
                fail("unclosed comment");
                i_ = t_.size();
                return;
            }
        }
    }
    static bool name_char(char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_-.:", c);
    }
    std::string name() {
        size_t start = i_;
        if (at_end() || !(std::isalpha(static_cast<unsigned char>(t_[i_])) || t_[i_] == '_'))
            return "";
        while (!at_end() && name_char(t_[i_])) ++i_;
        return t_.substr(start, i_ - start);
    }
    // "&amp;" and the other four, or a character reference.
    bool entity() {
        size_t semi = t_.find(';', i_);
        if (semi == std::string::npos || semi - i_ > 10) return false;
        std::string e = t_.substr(i_ + 1, semi - i_ - 1);
        bool ok = e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos" ||
                  (e.size() > 1 && e[0] == '#' &&
                   e.find_first_not_of(e[1] == 'x' ? "0123456789abcdefABCDEF" : "0123456789",
                                       e[1] == 'x' ? 2 : 1) == std::string::npos);
        i_ = semi + 1;
        return ok;
    }
    // Characters up to `stop`: no '<', and '&' only as an entity.
    bool chars(char stop) {
        while (!at_end() && t_[i_] != stop) {
            if (t_[i_] == '<') return false;
            if (t_[i_] == '&') {
                if (!entity()) return false;
                continue;
            }
            ++i_;
        }
        return true;
    }
    bool attributes() {
        std::vector<std::string> seen;
        for (;;) {
            skip_space();
            if (at_end()) return fail("unclosed tag"), false;
            if (t_[i_] == '>' || t_.compare(i_, 2, "/>") == 0) return true;
            std::string n = name();
            if (n.empty()) return fail("bad attribute name"), false;
            for (const auto& s : seen)
                if (s == n) return fail("attribute " + n + " twice"), false;
            seen.push_back(n);
            skip_space();
            if (at_end() || t_[i_] != '=') return fail("attribute " + n + " without ="), false;
            ++i_;
            skip_space();
            if (at_end() || (t_[i_] != '"' && t_[i_] != '\'')) return fail("unquoted " + n), false;
            char q = t_[i_++];
            if (!chars(q) || at_end()) return fail("bad value of " + n), false;
            ++i_;
        }
    }
    bool element() {
        if (at_end() || t_[i_] != '<') return fail("expected an element"), false;
        ++i_;
        std::string n = name();
        if (n.empty()) return fail("bad element name"), false;
        if (out_.root.empty()) out_.root = n;
        ++out_.elements[n];
        if (!attributes()) return false;
        if (t_[i_] == '/') {
            i_ += 2;
            return true;
        }
        ++i_;
        for (;;) {
            if (!chars('<')) return fail("raw '<' or bad '&' in the text of " + n), false;
            if (at_end()) return fail("unclosed <" + n + ">"), false;
            if (t_.compare(i_, 4, "<!--") == 0) {
                if (!skip_past("-->")) return fail("unclosed comment"), false;
            } else if (t_.compare(i_, 2, "</") == 0) {
                i_ += 2;
                if (name() != n) return fail("</...> does not close <" + n + ">"), false;
                skip_space();
                if (at_end() || t_[i_] != '>') return fail("bad end tag of " + n), false;
                ++i_;
                return true;
            } else if (!element()) {
                return false;
            }
        }
    }

    const std::string& t_;
    size_t i_ = 0;
    xml_summary out_;
};

}  // namespace

xml_summary check_xml(const std::string& text) {
    return walker(text).run();
}

}  // namespace cxtest
