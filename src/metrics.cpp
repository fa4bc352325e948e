#include "fer/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace fer {

ConfusionMatrix::ConfusionMatrix(std::size_t classes) : classes_(classes), counts_(classes * classes, 0) {
    if (classes == 0) throw std::invalid_argument("ConfusionMatrix: needs at least one class");
}

void ConfusionMatrix::add(int truth, int predicted) {
    if (truth < 0 || std::size_t(truth) >= classes_ || predicted < 0 || std::size_t(predicted) >= classes_)
        throw std::out_of_range("ConfusionMatrix::add: class " + std::to_string(truth) + " or " +
                                std::to_string(predicted) + " outside 0.." + std::to_string(classes_ - 1));
    ++counts_[std::size_t(truth) * classes_ + predicted];
}

std::size_t ConfusionMatrix::total() const {
    return std::accumulate(counts_.begin(), counts_.end(), std::size_t(0));
}

double ConfusionMatrix::accuracy() const {
    std::size_t hits = 0;
    for (std::size_t i = 0; i < classes_; ++i) hits += counts_[i * classes_ + i];
    std::size_t n = total();
    return n == 0 ? 0.0 : double(hits) / double(n);
}

ClassMetrics ConfusionMatrix::class_metrics(int cls) const {
    std::size_t tp = count(cls, cls), predicted = 0, actual = 0;
    for (std::size_t i = 0; i < classes_; ++i) {
        predicted += count(int(i), cls);
        actual += count(cls, int(i));
    }
    ClassMetrics m;
    m.support = actual;
    m.precision = predicted == 0 ? 0.0 : double(tp) / double(predicted);
    m.recall = actual == 0 ? 0.0 : double(tp) / double(actual);
    m.f1 = m.precision + m.recall == 0 ? 0.0 : 2 * m.precision * m.recall / (m.precision + m.recall);
    return m;
}

double ConfusionMatrix::macro_f1() const {
    double sum = 0;
    for (std::size_t i = 0; i < classes_; ++i) sum += class_metrics(int(i)).f1;
    return sum / double(classes_);
}

double ConfusionMatrix::row_percent(int truth, int predicted) const {
    std::size_t row = 0;
    for (std::size_t i = 0; i < classes_; ++i) row += count(truth, int(i));
    return row == 0 ? 0.0 : 100.0 * double(count(truth, predicted)) / double(row);
}

std::string format_report(const ConfusionMatrix& m, std::span<const std::string> names) {
    if (names.size() != m.classes())
        throw std::invalid_argument("format_report: class-name count differs from the matrix");
    std::size_t width = 8;
    for (const auto& name : names) width = std::max(width, name.size() + 1);
    char buf[256];
    std::string out;
    std::snprintf(buf, sizeof buf, "images %zu   accuracy %.2f %%   macro-F1 %.4f\n\n", m.total(), 100 * m.accuracy(),
                  m.macro_f1());
    out += buf;
    std::snprintf(buf, sizeof buf, "%-*s %9s %9s %9s %9s\n", int(width), "class", "precision", "recall", "f1",
                  "support");
    out += buf;
    for (std::size_t c = 0; c < m.classes(); ++c) {
        ClassMetrics cm = m.class_metrics(int(c));
        std::snprintf(buf, sizeof buf, "%-*s %9.4f %9.4f %9.4f %9zu\n", int(width), names[c].c_str(), cm.precision,
                      cm.recall, cm.f1, cm.support);
        out += buf;
    }
    auto matrix = [&](bool percent) {
        std::string block = percent ? "\nconfusion matrix, % of each true class (rows true, columns predicted)\n"
                                    : "\nconfusion matrix, counts (rows true, columns predicted)\n";
        std::snprintf(buf, sizeof buf, "%-*s", int(width), "");
        block += buf;
        for (const auto& name : names) {
            std::snprintf(buf, sizeof buf, " %*s", int(width), name.c_str());
            block += buf;
        }
        block += "\n";
        for (std::size_t r = 0; r < m.classes(); ++r) {
            std::snprintf(buf, sizeof buf, "%-*s", int(width), names[r].c_str());
            block += buf;
            for (std::size_t c = 0; c < m.classes(); ++c) {
                if (percent)
                    std::snprintf(buf, sizeof buf, " %*.1f", int(width), m.row_percent(int(r), int(c)));
                else
                    std::snprintf(buf, sizeof buf, " %*zu", int(width), m.count(int(r), int(c)));
                block += buf;
            }
            block += "\n";
        }
        return block;
    };
    out += matrix(false);
    out += matrix(true);
    return out;
}

std::string format_markdown(const ConfusionMatrix& m, std::span<const std::string> names) {
    if (names.size() != m.classes())
        throw std::invalid_argument("format_markdown: class-name count differs from the matrix");
    char buf[256];
    std::snprintf(buf, sizeof buf, "%.2f %% accuracy, macro-F1 %.4f (%zu images).\n\n", 100 * m.accuracy(),
                  m.macro_f1(), m.total());
    std::string out = buf;
    out += "| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n";
    for (std::size_t c = 0; c < m.classes(); ++c) {
        ClassMetrics cm = m.class_metrics(int(c));
        std::snprintf(buf, sizeof buf, "| %s | %.4f | %.4f | %.4f | %zu |\n", names[c].c_str(), cm.precision, cm.recall,
                      cm.f1, cm.support);
        out += buf;
    }
    out += "\nConfusion matrix, counts (rows true, columns predicted):\n\n|";
    for (const auto& name : names) out += " | " + name;
    out += " |\n|---|";
    for (std::size_t c = 0; c < m.classes(); ++c) out += "---|";
    out += "\n";
    for (std::size_t r = 0; r < m.classes(); ++r) {
        out += "| " + names[r];
        for (std::size_t c = 0; c < m.classes(); ++c) out += " | " + std::to_string(m.count(int(r), int(c)));
        out += " |\n";
    }
    return out;
}

}  // namespace fer
