// Confusion-matrix metrics against values worked out by hand, and the reports built from them.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "fer/metrics.hpp"

namespace fer {

namespace {

// 3 classes, 10 samples. Rows true, columns predicted:
//   a: 3 1 0      b: 1 2 1      c: 0 0 2
ConfusionMatrix hand_matrix() {
    ConfusionMatrix m(3);
    const int pairs[][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 1}, {1, 2}, {2, 2}, {2, 2}};
    for (const auto& p : pairs) m.add(p[0], p[1]);
    return m;
}

}  // namespace

TEST_CASE("confusion-matrix metrics match hand-computed values") {
    ConfusionMatrix m = hand_matrix();
    CHECK(m.total() == 10);
    CHECK(m.accuracy() == doctest::Approx(0.7));
    // a: precision 3/4, recall 3/4; b: precision 2/3, recall 2/4; c: precision 2/3, recall 2/2.
    CHECK(m.class_metrics(0).precision == doctest::Approx(0.75));
    CHECK(m.class_metrics(1).recall == doctest::Approx(0.5));
    CHECK(m.class_metrics(1).f1 == doctest::Approx(2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5)));
    CHECK(m.class_metrics(2).f1 == doctest::Approx(0.8));
    CHECK(m.class_metrics(2).support == 2);
    CHECK(m.macro_f1() == doctest::Approx((0.75 + 4.0 / 7 + 0.8) / 3));
    CHECK(m.row_percent(1, 2) == doctest::Approx(25.0));
    CHECK_THROWS_AS(m.add(3, 0), std::out_of_range);
}

TEST_CASE("the Markdown report holds the per-class table and the counts matrix") {
    ConfusionMatrix m = hand_matrix();
    const std::vector<std::string> names = {"a", "b", "c"};
    std::string md = format_markdown(m, names);
    CHECK(md.starts_with("70.00 % accuracy, macro-F1 0.7071 (10 images)."));
    CHECK(md.find("| b | 0.6667 | 0.5000 | 0.5714 | 4 |") != std::string::npos);
    CHECK(md.find("| | a | b | c |\n|---|---|---|---|\n| a | 3 | 1 | 0 |\n| b | 1 | 2 | 1 |\n| c | 0 | 0 | 2 |\n") !=
          std::string::npos);
    const std::vector<std::string> too_few = {"a", "b"};
    CHECK_THROWS_AS(format_markdown(m, too_few), std::invalid_argument);
}

}  // namespace fer
