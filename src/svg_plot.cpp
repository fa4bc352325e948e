#include "fer/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace fer {

namespace {

std::string escape_xml(const std::string& text) {
    std::string out;
    for (char ch : text) {
        switch (ch) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += ch;
        }
    }
    return out;
}

std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

}  // namespace

std::string line_charts_svg(const std::vector<std::pair<std::string, std::vector<Series>>>& panels) {
    const double panel_w = 420, panel_h = 320, left = 55, right = 15, top = 35, bottom = 65;
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                      fmt("%.0f", panel_w * double(panels.size())) + "\" height=\"" + fmt("%.0f", panel_h) +
                      "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
                      "fill=\"white\"/>\n";
    for (std::size_t p = 0; p < panels.size(); ++p) {
        const auto& [title, series] = panels[p];
        double x0 = double(p) * panel_w + left, x1 = double(p + 1) * panel_w - right, y0 = panel_h - bottom, y1 = top;
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        std::size_t epochs = 0;
        for (const auto& s : series) {
            epochs = std::max(epochs, s.values.size());
            for (double v : s.values)
                if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
        }
        if (!std::isfinite(lo)) lo = 0, hi = 1;
        if (hi - lo < 1e-9) hi = lo + 1;
        double pad = 0.05 * (hi - lo);
        lo -= pad, hi += pad;
        auto sx = [&](std::size_t i) {
            return epochs <= 1 ? (x0 + x1) / 2 : x0 + (x1 - x0) * double(i) / double(epochs - 1);
        };
        auto sy = [&](double v) { return y0 - (y0 - y1) * (v - lo) / (hi - lo); };
        svg += "<text x=\"" + fmt("%.1f", (x0 + x1) / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" +
               escape_xml(title) + "</text>\n";
        svg += "<rect x=\"" + fmt("%.1f", x0) + "\" y=\"" + fmt("%.1f", y1) + "\" width=\"" + fmt("%.1f", x1 - x0) +
               "\" height=\"" + fmt("%.1f", y0 - y1) + "\" fill=\"none\" stroke=\"#888\"/>\n";
        for (int t = 0; t <= 4; ++t) {
            double v = lo + (hi - lo) * t / 4.0;
            svg += "<line x1=\"" + fmt("%.1f", x0) + "\" x2=\"" + fmt("%.1f", x1) + "\" y1=\"" + fmt("%.1f", sy(v)) +
                   "\" y2=\"" + fmt("%.1f", sy(v)) + "\" stroke=\"#eee\"/>\n";
            svg += "<text x=\"" + fmt("%.1f", x0 - 5) + "\" y=\"" + fmt("%.1f", sy(v) + 4) + "\" text-anchor=\"end\">" +
                   fmt("%.3g", v) + "</text>\n";
        }
        std::size_t step = std::max<std::size_t>(1, epochs / 8);
        for (std::size_t i = 0; i < epochs; i += step)
            svg += "<text x=\"" + fmt("%.1f", sx(i)) + "\" y=\"" + fmt("%.1f", y0 + 16) + "\" text-anchor=\"middle\">" +
                   std::to_string(i + 1) + "</text>\n";
        svg += "<text x=\"" + fmt("%.1f", (x0 + x1) / 2) + "\" y=\"" + fmt("%.1f", y0 + 32) +
               "\" text-anchor=\"middle\">epoch</text>\n";
        for (std::size_t k = 0; k < series.size(); ++k) {
            const Series& s = series[k];
            std::string points;
            for (std::size_t i = 0; i < s.values.size(); ++i)
                if (std::isfinite(s.values[i])) points += fmt("%.1f", sx(i)) + "," + fmt("%.1f", sy(s.values[i])) + " ";
            svg +=
                "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + s.colour + "\" points=\"" + points + "\"/>\n";
            // The legend sits below the axis, where no curve can hide it.
            double lx = x0 + 110 * double(k), ly = panel_h - 10;
            svg += "<line x1=\"" + fmt("%.1f", lx) + "\" x2=\"" + fmt("%.1f", lx + 20) + "\" y1=\"" +
                   fmt("%.1f", ly - 4) + "\" y2=\"" + fmt("%.1f", ly - 4) + "\" stroke-width=\"2\" stroke=\"" + s.colour +
                   "\"/><text x=\"" + fmt("%.1f", lx + 25) + "\" y=\"" + fmt("%.1f", ly) + "\">" + escape_xml(s.label) +
                   "</text>\n";
        }
    }
    return svg + "</svg>\n";
}

std::string confusion_heatmap_svg(const ConfusionMatrix& m, std::span<const std::string> names,
                                  const std::string& title) {
    const double cell = 64, left = 90, top = 60;
    std::size_t k = m.classes();
    double width = left + cell * double(k) + 20, height = top + cell * double(k) + 50;
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", width) + "\" height=\"" +
                      fmt("%.0f", height) +
                      "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" "
                      "fill=\"white\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", width / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" +
           escape_xml(title) + "</text>\n";
    svg += "<text x=\"" + fmt("%.1f", left + cell * double(k) / 2) +
           "\" y=\"42\" text-anchor=\"middle\">predicted</text>\n";
    svg += "<text x=\"14\" y=\"" + fmt("%.1f", top + cell * double(k) / 2) +
           "\" text-anchor=\"middle\" transform=\"rotate(-90 14 " + fmt("%.1f", top + cell * double(k) / 2) +
           ")\">true</text>\n";
    for (std::size_t r = 0; r < k; ++r) {
        svg += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + fmt("%.1f", top + cell * (double(r) + 0.55)) +
               "\" text-anchor=\"end\">" + escape_xml(names[r]) + "</text>\n";
        svg += "<text x=\"" + fmt("%.1f", left + cell * (double(r) + 0.5)) + "\" y=\"" +
               fmt("%.1f", top + cell * double(k) + 16) + "\" text-anchor=\"middle\">" + escape_xml(names[r]) +
               "</text>\n";
        for (std::size_t c = 0; c < k; ++c) {
            double percent = m.row_percent(int(r), int(c));
            int shade = int(255 - 2.2 * percent);  // white (0 %) to deep blue (100 %)
            shade = std::clamp(shade, 35, 255);
            char colour[32];
            std::snprintf(colour, sizeof colour, "rgb(%d,%d,255)", shade, shade);
            double x = left + cell * double(c), y = top + cell * double(r);
            const char* ink = percent > 55 ? "white" : "black";
            svg += "<rect x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", y) + "\" width=\"" + fmt("%.1f", cell) +
                   "\" height=\"" + fmt("%.1f", cell) + "\" fill=\"" + colour + "\" stroke=\"white\"/>\n";
            svg += "<text x=\"" + fmt("%.1f", x + cell / 2) + "\" y=\"" + fmt("%.1f", y + cell / 2 - 2) +
                   "\" text-anchor=\"middle\" fill=\"" + ink + "\">" + fmt("%.1f", percent) + "%</text>\n";
            svg += "<text x=\"" + fmt("%.1f", x + cell / 2) + "\" y=\"" + fmt("%.1f", y + cell / 2 + 12) +
                   "\" text-anchor=\"middle\" fill=\"" + ink + "\" font-size=\"9\">" +
                   std::to_string(m.count(int(r), int(c))) + "</text>\n";
        }
    }
    return svg + "</svg>\n";
}

}  // namespace fer
