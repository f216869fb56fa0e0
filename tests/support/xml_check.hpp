// xml_check.hpp - a small XML well-formedness check for the files the tools write (the SVG of
// connectx-stress --plot): one root element, tags that nest and close, quoted attributes, no raw
// '<' or stray '&' in text or values. No DTDs or CDATA: the tools write none. Runs everywhere the
// tests run (the kernel-matrix guests have no python3).
#pragma once

#include <map>
#include <string>

namespace cxtest {

struct xml_summary {
    std::string error;                    // "" when well-formed, else what and at which byte
    std::string root;                     // the root element's name
    std::map<std::string, int> elements;  // how many of each element name
};

xml_summary check_xml(const std::string& text);

}  // namespace cxtest
