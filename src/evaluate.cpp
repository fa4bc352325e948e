#include "fer/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "fer/batch.hpp"
#include "fer/json_writer.hpp"

namespace fer {

std::vector<float> predict_probabilities(std::span<Network* const> networks, std::span<const float> weights,
                                         const Dataset& data, const PredictOptions& options) {
    if (networks.empty()) throw std::invalid_argument("predict_probabilities: no model given");
    if (!weights.empty() && weights.size() != networks.size())
        throw std::invalid_argument("predict_probabilities: " + std::to_string(weights.size()) + " weights for " +
                                    std::to_string(networks.size()) + " models");
    const std::size_t classes = networks[0]->class_names().size();
    std::vector<float> member_weight(networks.size(), 1.0f);
    if (!weights.empty()) std::copy(weights.begin(), weights.end(), member_weight.begin());
    float weight_sum = 0;
    for (float w : member_weight) {
        if (!(w >= 0)) throw std::invalid_argument("predict_probabilities: model weights must be >= 0");
        weight_sum += w;
    }
    if (weight_sum <= 0) throw std::invalid_argument("predict_probabilities: model weights sum to zero");
    for (Network* net : networks) {
        if (net->class_names() != networks[0]->class_names())
            throw std::invalid_argument("ensemble members have different class lists");
        const InputSpec& in = net->input();
        if (in.height != data.height || in.width != data.width || in.channels != 1)
            throw std::invalid_argument("model input " + std::to_string(in.channels) + "x" + std::to_string(in.height) +
                                        "x" + std::to_string(in.width) + " does not match the " +
                                        std::to_string(data.height) + "x" + std::to_string(data.width) +
                                        " grey images of the dataset");
    }
    if (classes != data.classes.size())
        throw std::invalid_argument("the model has " + std::to_string(classes) + " classes, the dataset " +
                                    std::to_string(data.classes.size()));

    const std::size_t n = data.size();
    std::vector<float> probabilities(n * classes, 0.0f);
    const Context ctx = Context::eval(RunOptions{options.threads, options.precision});
    const std::size_t batch = std::size_t(std::max(1, options.batch));
    Tensor input, mirrored;
    std::vector<int> labels;
    std::vector<std::size_t> indices;
    for (std::size_t m = 0; m < networks.size(); ++m) {
        const float share = member_weight[m] / weight_sum / (options.tta ? 2.0f : 1.0f);
        for (std::size_t start = 0; start < n; start += batch) {
            std::size_t count = std::min(batch, n - start);
            indices.resize(count);
            for (std::size_t k = 0; k < count; ++k) indices[k] = start + k;
            make_batch(data, indices, networks[m]->input(), nullptr, 0, ctx.threads, input, labels);
            auto accumulate = [&](const Tensor& x) {
                const Tensor& out = networks[m]->forward(x, ctx);
                for (std::size_t k = 0; k < count; ++k)
                    for (std::size_t c = 0; c < classes; ++c)
                        probabilities[(start + k) * classes + c] += share * out[k * classes + c];
            };
            accumulate(input);
            if (options.tta) {
                mirror_batch(input, mirrored);
                accumulate(mirrored);
            }
        }
    }
    return probabilities;
}

Evaluation evaluate_probabilities(std::span<const float> probabilities, const Dataset& data) {
    const std::size_t classes = data.classes.size();
    if (probabilities.size() != data.size() * classes)
        throw std::invalid_argument("evaluate_probabilities: probability count does not match the dataset");
    Evaluation result{ConfusionMatrix(classes), 0.0};
    double nll = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const float* row = probabilities.data() + i * classes;
        int predicted = int(std::max_element(row, row + classes) - row);
        result.matrix.add(data.labels[i], predicted);
        nll -= std::log(std::max(double(row[data.labels[i]]), 1e-12));
    }
    result.loss = data.size() ? nll / double(data.size()) : 0.0;
    return result;
}

std::string evaluation_json(const Evaluation& e, std::span<const std::string> names,
                            std::span<const std::string> model_paths) {
    const ConfusionMatrix& m = e.matrix;
    JsonWriter json;
    json.begin_object();
    json.key("models").begin_array();
    for (const auto& path : model_paths) json.value(path);
    json.end_array();
    json.key("images").value(double(m.total()));
    json.key("accuracy").value(m.accuracy());
    json.key("macro_f1").value(m.macro_f1());
    json.key("loss").value(e.loss);
    json.key("classes").begin_array();
    for (const auto& name : names) json.value(name);
    json.end_array();
    json.key("per_class").begin_object();
    for (std::size_t c = 0; c < m.classes(); ++c) {
        ClassMetrics cm = m.class_metrics(int(c));
        json.key(names[c]).begin_object();
        json.key("precision").value(cm.precision);
        json.key("recall").value(cm.recall);
        json.key("f1").value(cm.f1);
        json.key("support").value(double(cm.support));
        json.end_object();
    }
    json.end_object();
    for (bool percent : {false, true}) {
        json.key(percent ? "confusion_percent" : "confusion").begin_array();
        for (std::size_t r = 0; r < m.classes(); ++r) {
            json.begin_array();
            for (std::size_t c = 0; c < m.classes(); ++c)
                json.value(percent ? m.row_percent(int(r), int(c)) : double(m.count(int(r), int(c))));
            json.end_array();
        }
        json.end_array();
    }
    json.end_object();
    return json.str() + "\n";
}

std::string probabilities_csv(std::span<const float> probabilities, const Dataset& data) {
    const std::size_t classes = data.classes.size();
    if (probabilities.size() != data.size() * classes)
        throw std::invalid_argument("probabilities_csv: probability count does not match the dataset");
    // A field with a comma, quote or line break is quoted, its quotes doubled (RFC 4180).
    auto field = [](const std::string& text) {
        if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
        std::string quoted = "\"";
        for (char ch : text) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        return quoted + "\"";
    };
    std::string csv = "source,label";
    for (const auto& name : data.classes) csv += "," + field(name);
    csv += "\n";
    char number[32];
    for (std::size_t i = 0; i < data.size(); ++i) {
        csv += field(data.sources.empty() ? std::to_string(i) : data.sources[i]) + "," +
               field(data.classes[std::size_t(data.labels[i])]);
        for (std::size_t c = 0; c < classes; ++c) {
            std::snprintf(number, sizeof number, ",%.7g", double(probabilities[i * classes + c]));
            csv += number;
        }
        csv += "\n";
    }
    return csv;
}

}  // namespace fer
