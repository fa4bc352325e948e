// A minimal streaming JSON writer for reports and metrics logs (the core library has no JSON
// dependency). Keys and string values are escaped; numbers that are integral print without a fraction.
#pragma once

#include <string>
#include <vector>

namespace fer {

class JsonWriter {
public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(const std::string& name);
    JsonWriter& value(const std::string& text);
    JsonWriter& value(const char* text) { return value(std::string(text)); }
    JsonWriter& value(double number);  // NaN and infinities become null
    JsonWriter& value(bool flag);
    const std::string& str() const { return out_; }

private:
    void separator();
    std::string out_;
    std::vector<bool> first_;  // per open container: nothing written yet
    bool after_key_ = false;
};

std::string json_escape(const std::string& text);

}  // namespace fer
