#include "fer/architecture.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "fer/layers.hpp"

namespace fer {

namespace {

// Reads a layer's key=value pairs, each at most once; finish() rejects the keys nobody asked for, so a
// typo such as `filter=32` is an error instead of silently becoming a default.
class ConfigReader {
public:
    ConfigReader(std::string kind, const LayerConfig& config) : kind_(std::move(kind)), config_(config) {
        used_.assign(config_.size(), false);
        for (std::size_t i = 0; i < config_.size(); ++i)
            for (std::size_t j = 0; j < i; ++j)
                if (config_[i].first == config_[j].first)
                    throw std::invalid_argument(kind_ + ": key '" + config_[i].first + "' given twice");
    }

    std::optional<std::string> text(const std::string& key) {
        for (std::size_t i = 0; i < config_.size(); ++i) {
            if (config_[i].first == key) {
                used_[i] = true;
                return config_[i].second;
            }
        }
        return std::nullopt;
    }

    int positive_int(const std::string& key, std::optional<int> fallback) {
        auto value = text(key);
        if (!value) return required(key, fallback);
        return parse_positive(key, *value);
    }

    // "5" for 5x5, "4x3" for height 4 and width 3.
    std::pair<int, int> pair(const std::string& key, std::pair<int, int> fallback) {
        auto value = text(key);
        if (!value) return fallback;
        std::size_t x = value->find('x');
        if (x == std::string::npos) {
            int both = parse_positive(key, *value);
            return {both, both};
        }
        return {parse_positive(key, value->substr(0, x)), parse_positive(key, value->substr(x + 1))};
    }

    std::uint64_t u64(const std::string& key, std::uint64_t fallback) {
        auto value = text(key);
        if (!value) return fallback;
        std::uint64_t result = 0;
        auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), result);
        if (error != std::errc() || end != value->data() + value->size() || value->empty())
            throw bad_value(key, *value, "an unsigned integer");
        return result;
    }

    float real(const std::string& key, std::optional<float> fallback) {
        auto value = text(key);
        if (!value) return required(key, fallback);
        float result = 0.0f;
        auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), result);
        if (error != std::errc() || end != value->data() + value->size() || value->empty() || !std::isfinite(result))
            throw bad_value(key, *value, "a finite number");
        return result;
    }

    bool boolean(const std::string& key, bool fallback) {
        auto value = text(key);
        if (!value) return fallback;
        if (*value == "true") return true;
        if (*value == "false") return false;
        throw bad_value(key, *value, "true or false");
    }

    Padding padding(const std::string& key, Padding fallback) {
        auto value = text(key);
        if (!value) return fallback;
        if (*value != "same" && *value != "valid") throw bad_value(key, *value, "same or valid");
        return parse_padding(*value);
    }

    void finish() const {
        for (std::size_t i = 0; i < config_.size(); ++i)
            if (!used_[i]) throw std::invalid_argument(kind_ + ": unknown key '" + config_[i].first + "'");
    }

private:
    template <typename T>
    T required(const std::string& key, std::optional<T> fallback) const {
        if (!fallback) throw std::invalid_argument(kind_ + ": missing key '" + key + "'");
        return *fallback;
    }

    int parse_positive(const std::string& key, const std::string& value) const {
        int result = 0;
        auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), result);
        if (error != std::errc() || end != value.data() + value.size() || value.empty() || result <= 0)
            throw bad_value(key, value, "a positive integer");
        return result;
    }

    std::invalid_argument bad_value(const std::string& key, const std::string& value, const char* expected) const {
        return std::invalid_argument(kind_ + ": bad value '" + value + "' for key '" + key + "' (expected " + expected +
                                     ")");
    }

    std::string kind_;
    const LayerConfig& config_;
    std::vector<bool> used_;
};

LayerPtr make_pool(const std::string& kind, ConfigReader& reader) {
    Pool2DSpec spec;
    std::tie(spec.size_h, spec.size_w) = reader.pair("size", {spec.size_h, spec.size_w});
    std::tie(spec.stride_h, spec.stride_w) = reader.pair("stride", {spec.stride_h, spec.stride_w});
    spec.padding = reader.padding("padding", spec.padding);
    reader.finish();
    if (kind == "maxpool2d") return std::make_unique<MaxPool2D>(spec);
    return std::make_unique<AvgPool2D>(spec);
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& word : words) out += (out.empty() ? "" : ", ") + word;
    return out;
}

// ---- parsing -------------------------------------------------------------------------------------------

struct Line {
    int number;                       // 1-based, for messages
    std::vector<std::string> tokens;  // whitespace separated, comment removed
};

std::vector<Line> split_lines(const std::string& text) {
    std::vector<Line> lines;
    std::istringstream stream(text);
    std::string raw;
    int number = 0;
    while (std::getline(stream, raw)) {
        ++number;
        if (auto hash = raw.find('#'); hash != std::string::npos) raw.erase(hash);
        std::istringstream words(raw);
        Line line{number, {}};
        for (std::string word; words >> word;) line.tokens.push_back(word);
        if (!line.tokens.empty()) lines.push_back(std::move(line));
    }
    return lines;
}

class ArchitectureParser {
public:
    ArchitectureParser(const std::string& text, std::string source)
        : lines_(split_lines(text)), source_(std::move(source)) {}

    Architecture parse() {
        if (lines_.empty()) throw error(0, "empty architecture: expected 'input channels=C height=H width=W'");
        Architecture arch;
        arch.input = parse_input(lines_[0]);
        next_ = 1;
        arch.layers = parse_block(nullptr);
        return arch;
    }

private:
    std::invalid_argument error(int line, const std::string& what) const {
        return std::invalid_argument(source_ + ":" + std::to_string(line) + ": " + what);
    }

    LayerConfig read_config(const Line& line, std::size_t first, std::size_t last) const {
        LayerConfig config;
        for (std::size_t i = first; i < last; ++i) {
            const std::string& token = line.tokens[i];
            std::size_t equals = token.find('=');
            if (equals == std::string::npos || equals == 0 || equals + 1 == token.size())
                throw error(line.number, "expected key=value, got '" + token + "'");
            config.emplace_back(token.substr(0, equals), token.substr(equals + 1));
        }
        return config;
    }

    Shape parse_input(const Line& line) const {
        if (line.tokens[0] != "input")
            throw error(line.number,
                        "the first line must be 'input channels=C height=H width=W', got '" + line.tokens[0] + "'");
        LayerConfig config = read_config(line, 1, line.tokens.size());
        try {
            ConfigReader reader("input", config);
            Shape shape{1, reader.positive_int("channels", std::nullopt), reader.positive_int("height", std::nullopt),
                        reader.positive_int("width", std::nullopt)};
            reader.finish();
            return shape;
        } catch (const std::invalid_argument& e) {
            throw error(line.number, e.what());
        }
    }

    // Layers up to the closing line of the enclosing residual block (opener) or the end of the text.
    Sequence parse_block(const Line* opener) {
        Sequence layers;
        while (next_ < lines_.size()) {
            const Line& line = lines_[next_];
            if (line.tokens[0] == "}" || line.tokens[0].front() == '}') {
                if (!opener) throw error(line.number, "'}' without an open residual block");
                return layers;
            }
            ++next_;
            if (line.tokens[0] == "input") throw error(line.number, "'input' may only appear on the first line");
            if (line.tokens[0] == "residual") {
                layers.add(parse_residual(line));
                continue;
            }
            if (line.tokens.back() == "{") throw error(line.number, "only 'residual' opens a block with '{'");
            LayerConfig config = read_config(line, 1, line.tokens.size());
            try {
                layers.add(make_layer(line.tokens[0], config));
            } catch (const std::invalid_argument& e) {
                throw error(line.number, e.what());
            }
        }
        if (opener) throw error(opener->number, "missing '}': the residual block opened here is never closed");
        return layers;
    }

    LayerPtr parse_residual(const Line& line) {
        if (line.tokens.back() != "{")
            throw error(line.number, "'residual' must end with '{' (residual relu=true { ... } shortcut { ... })");
        LayerConfig config = read_config(line, 1, line.tokens.size() - 1);
        bool relu_after = true;
        try {
            ConfigReader reader("residual", config);
            relu_after = reader.boolean("relu", true);
            reader.finish();
        } catch (const std::invalid_argument& e) {
            throw error(line.number, e.what());
        }
        Sequence body = parse_block(&line);
        Sequence shortcut;
        const Line& close = lines_[next_++];
        if (close.tokens == std::vector<std::string>{"}", "shortcut", "{"}) {
            shortcut = parse_block(&close);
            const Line& close_shortcut = lines_[next_++];
            if (close_shortcut.tokens != std::vector<std::string>{"}"})
                throw error(close_shortcut.number,
                            "expected '}' to close the shortcut, got '" + close_shortcut.tokens[0] + "...'");
        } else if (close.tokens != std::vector<std::string>{"}"}) {
            throw error(close.number, "expected '}' or '} shortcut {' to close the residual body");
        }
        return std::make_unique<Residual>(std::move(body), std::move(shortcut), relu_after);
    }

    std::vector<Line> lines_;
    std::string source_;
    std::size_t next_ = 0;
};

// ---- writing -------------------------------------------------------------------------------------------

void write_layers(const Sequence& layers, int depth, std::string& out) {
    const std::string indent(std::size_t(2 * depth), ' ');
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const Layer& layer = layers.layer(i);
        out += indent + layer.kind();
        for (const auto& [key, value] : layer.config()) out += " " + key + "=" + value;
        if (const auto* residual = dynamic_cast<const Residual*>(&layer)) {
            out += " {\n";
            write_layers(residual->body(), depth + 1, out);
            if (!residual->shortcut().empty()) {
                out += indent + "} shortcut {\n";
                write_layers(residual->shortcut(), depth + 1, out);
            }
            out += indent + "}";
        }
        out += "\n";
    }
}

}  // namespace

std::vector<std::string> layer_kinds() {
    return {"conv2d",  "maxpool2d", "avgpool2d", "global_avg_pool", "batchnorm", "relu",          "sigmoid",
            "softmax", "dropout",   "dense",     "flatten",         "residual",  "squeeze_excite"};
}

LayerPtr make_layer(const std::string& kind, const LayerConfig& config) {
    ConfigReader reader(kind, config);
    LayerPtr layer;
    if (kind == "conv2d") {
        Conv2DSpec spec;
        spec.filters = reader.positive_int("filters", std::nullopt);
        std::tie(spec.kernel_h, spec.kernel_w) = reader.pair("kernel", {spec.kernel_h, spec.kernel_w});
        std::tie(spec.stride_h, spec.stride_w) = reader.pair("stride", {spec.stride_h, spec.stride_w});
        spec.padding = reader.padding("padding", spec.padding);
        spec.bias = reader.boolean("bias", spec.bias);
        layer = std::make_unique<Conv2D>(spec);
    } else if (kind == "maxpool2d" || kind == "avgpool2d") {
        return make_pool(kind, reader);
    } else if (kind == "global_avg_pool") {
        layer = std::make_unique<GlobalAvgPool2D>();
    } else if (kind == "batchnorm") {
        float momentum = reader.real("momentum", 0.99f);
        float epsilon = reader.real("epsilon", 1e-3f);
        layer = std::make_unique<BatchNorm>(momentum, epsilon);
    } else if (kind == "relu") {
        layer = std::make_unique<ReLU>();
    } else if (kind == "sigmoid") {
        layer = std::make_unique<Sigmoid>();
    } else if (kind == "softmax") {
        layer = std::make_unique<Softmax>();
    } else if (kind == "dropout") {
        float rate = reader.real("rate", std::nullopt);
        std::uint64_t seed = reader.u64("seed", 0);
        layer = std::make_unique<Dropout>(rate, seed);
    } else if (kind == "dense") {
        int units = reader.positive_int("units", std::nullopt);
        bool bias = reader.boolean("bias", true);
        layer = std::make_unique<Dense>(units, bias);
    } else if (kind == "flatten") {
        layer = std::make_unique<Flatten>();
    } else if (kind == "squeeze_excite") {
        layer = std::make_unique<SqueezeExcite>(reader.positive_int("reduction", 16));
    } else if (kind == "residual") {
        throw std::invalid_argument(
            "residual: a residual block needs a body; write it as 'residual relu=true { ... }'");
    } else {
        throw std::invalid_argument("unknown layer kind '" + kind + "' (known kinds: " + join(layer_kinds()) + ")");
    }
    reader.finish();
    return layer;
}

Architecture parse_architecture(const std::string& text, const std::string& source_name) {
    return ArchitectureParser(text, source_name).parse();
}

std::string write_architecture(const Shape& input, const Sequence& layers) {
    std::string out = "input channels=" + std::to_string(input.c) + " height=" + std::to_string(input.h) +
                      " width=" + std::to_string(input.w) + "\n";
    write_layers(layers, 0, out);
    return out;
}

}  // namespace fer
