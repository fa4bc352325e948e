// Pictures a person can open in any browser, written as plain SVG (no plotting dependency):
// training curves and the confusion-matrix heat map.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "fer/metrics.hpp"

namespace fer {

struct Series {
    std::string label;
    std::string colour;        // CSS colour
    std::vector<double> values;  // one per epoch; NaN values are skipped
};

// A line chart panel per entry of `panels` (title + series), side by side, x axis = epoch (1-based).
std::string line_charts_svg(const std::vector<std::pair<std::string, std::vector<Series>>>& panels);

// Row-normalised heat map with counts and percentages in each cell, class names on both axes.
std::string confusion_heatmap_svg(const ConfusionMatrix& matrix, std::span<const std::string> class_names,
                                  const std::string& title);

}  // namespace fer
