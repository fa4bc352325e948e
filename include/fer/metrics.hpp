// Classification metrics: confusion matrix (rows true, columns predicted, as in the paper's Fig. 3),
// per-class precision / recall / F1, macro-F1 and accuracy.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace fer {

struct ClassMetrics {
    double precision = 0, recall = 0, f1 = 0;
    std::size_t support = 0;  // true samples of the class
};

class ConfusionMatrix {
public:
    explicit ConfusionMatrix(std::size_t classes);

    void add(int truth, int predicted);
    std::size_t classes() const { return classes_; }
    std::size_t count(int truth, int predicted) const { return counts_[std::size_t(truth) * classes_ + predicted]; }
    std::size_t total() const;
    double accuracy() const;
    ClassMetrics class_metrics(int cls) const;
    double macro_f1() const;
    // Row-normalised percentages (each true class sums to 100; an empty row stays 0).
    double row_percent(int truth, int predicted) const;

private:
    std::size_t classes_;
    std::vector<std::size_t> counts_;
};

// A terminal report: accuracy, macro-F1, a per-class table and the matrix as counts and as row
// percentages, aligned, with class names.
std::string format_report(const ConfusionMatrix& matrix, std::span<const std::string> class_names);

// The same for a Markdown document (docs/results.md is written from it): an accuracy line, the per-class
// table and the counts matrix as GitHub tables.
std::string format_markdown(const ConfusionMatrix& matrix, std::span<const std::string> class_names);

}  // namespace fer
