// plot.cpp - the SVG charts of --plot: axes with round ticks, one polyline per technique, a
// legend. Every text is XML-escaped.
#include "plot.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "format.hpp"

namespace cxstress {
namespace {

constexpr double kWidth = 1000;
constexpr double kPanelW = 400, kPanelH = 300;  // the plotting area of each chart
constexpr double kLeft1 = 80, kLeft2 = 570, kTop = 70;
// A point of the cost curve averages bins until it holds about this many connects.
constexpr uint64_t kConnectsPerPoint = 10;
// One color per technique, by id, so a technique keeps its color across runs.
constexpr const char* kColors[kTechniqueCount] = {"#1f77b4", "#ff7f0e", "#2ca02c",
                                                  "#d62728", "#9467bd", "#8c564b",
                                                  "#e377c2", "#7f7f7f", "#17becf"};

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&':
                o += "&amp;";
                break;
            case '<':
                o += "&lt;";
                break;
            case '>':
                o += "&gt;";
                break;
            case '"':
                o += "&quot;";
                break;
            default:
                o += c;
        }
    }
    return o;
}

std::string num(double v) {
    return fixed(v, 1);
}

// A round tick step for an axis from 0 to `max` (about 5 ticks): 1, 2 or 5 times a power of 10.
double tick_step(double max) {
    if (max <= 0) return 1;
    double raw = max / 5, mag = std::pow(10, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0})
        if (raw <= m * mag) return m * mag;
    return 10 * mag;
}

std::string tick_label(double v) {
    if (v >= 1000 && std::fmod(v, 1000) == 0) return grouped(uint64_t(v));
    return std::fabs(v - std::round(v)) < 1e-9 ? grouped(uint64_t(std::llround(v))) : fixed(v, 2);
}

struct axis {
    double lo, hi;
    bool log;
    double map(double v, double from, double len) const {  // value -> pixel offset
        if (log)
            return from +
                   (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * len;
        return from + (v - lo) / (hi - lo) * len;
    }
};

struct panel {
    double left;
    axis x, y;
    std::string title, xlabel, ylabel;
    double px(double v) const { return x.map(v, left, kPanelW); }
    double py(double v) const { return kTop + kPanelH - y.map(v, 0, kPanelH); }
};

void draw_frame(std::string& svg, const panel& p) {
    svg += "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\">\n";
    svg += "<text x=\"" + num(p.left + kPanelW / 2) + "\" y=\"" + num(kTop - 12) +
           "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" + esc(p.title) +
           "</text>\n";
    svg += "<rect x=\"" + num(p.left) + "\" y=\"" + num(kTop) + "\" width=\"" + num(kPanelW) +
           "\" height=\"" + num(kPanelH) + "\" fill=\"none\" stroke=\"#444\"/>\n";
    // x ticks (linear)
    for (double v = p.x.lo, s = tick_step(p.x.hi - p.x.lo); v <= p.x.hi + s * 1e-9; v += s) {
        double x = p.px(v);
        svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop) + "\" x2=\"" + num(x) + "\" y2=\"" +
               num(kTop + kPanelH) + "\" stroke=\"#ddd\"/>\n";
        svg += "<text x=\"" + num(x) + "\" y=\"" + num(kTop + kPanelH + 16) +
               "\" text-anchor=\"middle\">" + esc(tick_label(v)) + "</text>\n";
    }
    // y ticks: decades on a log axis, round steps on a linear one
    std::vector<double> ys;
    if (p.y.log)
        for (double v = p.y.lo; v <= p.y.hi * 1.0001; v *= 10) ys.push_back(v);
    else
        for (double v = p.y.lo, s = tick_step(p.y.hi - p.y.lo); v <= p.y.hi + s * 1e-9; v += s)
            ys.push_back(v);
    for (double v : ys) {
        double y = p.py(v);
        svg += "<line x1=\"" + num(p.left) + "\" y1=\"" + num(y) + "\" x2=\"" +
               num(p.left + kPanelW) + "\" y2=\"" + num(y) + "\" stroke=\"#ddd\"/>\n";
        svg += "<text x=\"" + num(p.left - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
               esc(tick_label(v)) + "</text>\n";
    }
    svg += "<text x=\"" + num(p.left + kPanelW / 2) + "\" y=\"" + num(kTop + kPanelH + 36) +
           "\" text-anchor=\"middle\">" + esc(p.xlabel) + "</text>\n";
    svg += "<text transform=\"translate(" + num(p.left - 58) + "," + num(kTop + kPanelH / 2) +
           ") rotate(-90)\" text-anchor=\"middle\">" + esc(p.ylabel) + "</text>\n";
    svg += "</g>\n";
}

void draw_line(std::string& svg, const panel& p, const std::vector<std::pair<double, double>>& pts,
               const char* color, const char* name) {
    if (pts.empty()) return;
    svg += "<polyline class=\"technique\" data-technique=\"" + esc(name) +
           "\" fill=\"none\" stroke-width=\"2\" stroke=\"" + color + "\" points=\"";
    for (const auto& [x, y] : pts) svg += num(p.px(x)) + "," + num(p.py(y)) + " ";
    svg += "\"/>\n";
}

using points = std::vector<std::pair<double, double>>;

points time_points(const scenario_result& r) {
    points pts;
    for (uint32_t i = 0; i < r.times.samples; ++i)
        pts.emplace_back(r.times.sample_s[i], double(r.times.sample_n[i]));
    return pts;
}

points cost_points(const scenario_result& r, uint64_t capacity) {
    uint64_t per_bin = std::max<uint64_t>(capacity / kOccupancyBins, 1);
    int group = int(std::clamp<uint64_t>((kConnectsPerPoint + per_bin - 1) / per_bin, 1, 10));
    points pts;
    for (int b = 0; b < kOccupancyBins; b += group) {
        double us = mean_cost_us(r.times, b, b + group);
        if (us > 0) pts.emplace_back(b + group / 2.0, us);
    }
    return pts;
}

std::string chart(const config& cfg, const std::vector<scenario_result>& results) {
    double tmax = 0, nmax = 0, cmin = 1e300, cmax = 0;
    std::vector<points> tp, cp;
    for (const auto& r : results) {
        tp.push_back(time_points(r));
        cp.push_back(cost_points(r, cfg.capacity()));
        for (auto [t, n] : tp.back()) tmax = std::max(tmax, t), nmax = std::max(nmax, n);
        for (auto [o, c] : cp.back()) cmin = std::min(cmin, c), cmax = std::max(cmax, c);
    }
    if (cmax <= 0) cmin = 1, cmax = 10;
    double sx = tick_step(tmax), sy = tick_step(nmax);
    panel left{kLeft1,
               {0, std::max(sx, std::ceil(tmax / sx) * sx), false},
               {0, std::max(sy, std::ceil(nmax / sy) * sy), false},
               "connections established against time",
               "seconds since the technique started",
               "connections open"};
    panel right{
        kLeft2,
        {0, 100, false},
        {std::pow(10, std::floor(std::log10(cmin))),
         std::pow(10, std::max(std::ceil(std::log10(cmax)), std::floor(std::log10(cmin)) + 1)),
         true},
        "cost per connect against occupancy",
        "occupancy of the " + grouped(cfg.capacity()) + " 4-tuples (%)",
        "microseconds per connect (mean, log scale)"};
    double legend_top = kTop + kPanelH + 62;
    double height = legend_top + double((results.size() + 2) / 3) * 20 + 6;  // 3 per row
    std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(kWidth) +
           "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) +
           "\">\n";
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += "<text x=\"" + num(kWidth / 2) +
           "\" y=\"24\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"15\">" +
           esc("connectx-stress: " + std::to_string(cfg.range_size()) + " ports x " +
               std::to_string(cfg.destinations) + " destinations = " + grouped(cfg.capacity()) +
               " 4-tuples, " + fill_name(cfg.fill) + " fill, kernel " + kernel_release()) +
           "</text>\n";
    draw_frame(svg, left);
    draw_frame(svg, right);
    for (size_t i = 0; i < results.size(); ++i) {
        const technique_info& t = info(results[i].technique);
        const char* color = kColors[int(t.id)];
        draw_line(svg, left, tp[i], color, t.name);
        draw_line(svg, right, cp[i], color, t.name);
        double x = double(i % 3) * 320 + 40, y = legend_top + double(i / 3) * 20;
        svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(y - 4) + "\" x2=\"" + num(x + 24) +
               "\" y2=\"" + num(y - 4) + "\" stroke-width=\"3\" stroke=\"" + color + "\"/>\n";
        svg += "<text x=\"" + num(x + 30) + "\" y=\"" + num(y) +
               "\" font-family=\"sans-serif\" font-size=\"12\">" +
               esc(std::string(t.name) + ": " + grouped(results[i].established) + ", " +
                   outcome_cell(results[i])) +
               "</text>\n";
    }
    svg += "</svg>\n";
    return svg;
}

}  // namespace

int write_plot(const char* path, const config& cfg, const std::vector<scenario_result>& results,
               std::string& error) {
    std::string svg = chart(cfg, results);
    std::FILE* f = std::fopen(path, "we");
    int e = 0;
    if (!f) {
        e = errno;
    } else {
        if (std::fwrite(svg.data(), 1, svg.size(), f) != svg.size()) e = errno ? errno : EIO;
        if (std::fclose(f) != 0 && !e) e = errno;
    }
    if (e) error = std::string("--plot ") + path + ": " + std::strerror(e);
    return e;
}

}  // namespace cxstress
