#include "fer/json_writer.hpp"

#include <cmath>
#include <cstdio>

namespace fer {

std::string json_escape(const std::string& text) {
    std::string out = "\"";
    for (unsigned char ch : text) {
        switch (ch) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (ch < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", ch);
                    out += buf;
                } else {
                    out += char(ch);
                }
        }
    }
    return out + "\"";
}

void JsonWriter::separator() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) out_ += ",";
        first_.back() = false;
    }
}

JsonWriter& JsonWriter::begin_object() {
    separator();
    out_ += "{";
    first_.push_back(true);
    return *this;
}
JsonWriter& JsonWriter::end_object() {
    first_.pop_back();
    out_ += "}";
    return *this;
}
JsonWriter& JsonWriter::begin_array() {
    separator();
    out_ += "[";
    first_.push_back(true);
    return *this;
}
JsonWriter& JsonWriter::end_array() {
    first_.pop_back();
    out_ += "]";
    return *this;
}
JsonWriter& JsonWriter::key(const std::string& name) {
    separator();
    out_ += json_escape(name) + ":";
    after_key_ = true;
    return *this;
}
JsonWriter& JsonWriter::value(const std::string& text) {
    separator();
    out_ += json_escape(text);
    return *this;
}
JsonWriter& JsonWriter::value(double number) {
    separator();
    if (!std::isfinite(number)) {
        out_ += "null";
    } else if (number == std::floor(number) && std::abs(number) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", number);
        out_ += buf;
    } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", number);
        out_ += buf;
    }
    return *this;
}
JsonWriter& JsonWriter::value(bool flag) {
    separator();
    out_ += flag ? "true" : "false";
    return *this;
}

}  // namespace fer
