#include "fer/teacher.hpp"

#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "fer/atomic_file.hpp"
#include "fer/checksum.hpp"

namespace fer {

namespace {

// One RFC 4180 record without line breaks inside fields: a quoted field may hold commas and doubled
// quotes. Throws std::runtime_error with `where` for an unterminated quote.
std::vector<std::string> csv_fields(const std::string& line, const std::string& where) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char ch = line[i];
        if (quoted) {
            if (ch != '"') {
                fields.back() += ch;
            } else if (i + 1 < line.size() && line[i + 1] == '"') {
                fields.back() += '"';
                ++i;
            } else {
                quoted = false;
            }
        } else if (ch == '"' && fields.back().empty()) {
            quoted = true;
        } else if (ch == ',') {
            fields.emplace_back();
        } else if (ch != '\r') {
            fields.back() += ch;
        }
    }
    if (quoted) throw std::runtime_error(where + ": a quoted field is not closed");
    return fields;
}

}  // namespace

std::string teacher_key(const std::string& source) {
    const std::size_t last = source.rfind('/');
    if (last == std::string::npos || last == 0) return source;
    const std::size_t before = source.rfind('/', last - 1);
    return before == std::string::npos ? source : source.substr(before + 1);
}

TeacherProbabilities load_teacher_probabilities(const std::string& csv_path, const Dataset& data) {
    const std::string bytes = read_file(csv_path);
    TeacherProbabilities teacher;
    teacher.crc = crc32({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});

    const std::size_t classes = data.classes.size();
    std::unordered_map<std::string, std::size_t> image_of;
    for (std::size_t i = 0; i < data.size(); ++i) image_of.emplace(teacher_key(data.sources.at(i)), i);
    teacher.rows.assign(data.size() * classes, 0.0f);
    std::vector<int> line_of(data.size(), 0);

    std::istringstream lines(bytes);
    std::string line;
    int line_number = 0;
    auto where = [&] { return csv_path + ":" + std::to_string(line_number); };
    if (!std::getline(lines, line)) throw std::runtime_error(csv_path + ": empty file, expected a header line");
    ++line_number;
    const std::vector<std::string> header = csv_fields(line, where());
    std::string expected_header = "source,label";
    for (const auto& name : data.classes) expected_header += "," + name;
    bool header_matches = header.size() == classes + 2 && header[0] == "source" && header[1] == "label";
    for (std::size_t c = 0; header_matches && c < classes; ++c) header_matches = header[c + 2] == data.classes[c];
    if (!header_matches)
        throw std::runtime_error(where() + ": the header is not '" + expected_header +
                                 "' (the training data's classes, in order)");

    while (std::getline(lines, line)) {
        ++line_number;
        if (line.empty() || line == "\r") continue;
        const std::vector<std::string> fields = csv_fields(line, where());
        if (fields.size() != classes + 2)
            throw std::runtime_error(where() + ": " + std::to_string(fields.size()) + " fields, expected " +
                                     std::to_string(classes + 2));
        const auto found = image_of.find(teacher_key(fields[0]));
        if (found == image_of.end()) continue;
        const std::size_t image = found->second;
        if (line_of[image] != 0)
            throw std::runtime_error(where() + ": image '" + fields[0] + "' was already given on line " +
                                     std::to_string(line_of[image]));
        line_of[image] = line_number;
        float* row = teacher.rows.data() + image * classes;
        double sum = 0.0;
        for (std::size_t c = 0; c < classes; ++c) {
            const std::string& text = fields[c + 2];
            float value = 0.0f;
            const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0.0f)
                throw std::runtime_error(where() + ": the " + data.classes[c] + " probability '" + text +
                                         "' is not a finite number >= 0");
            row[c] = value;
            sum += value;
        }
        if (!(sum > 0.0)) throw std::runtime_error(where() + ": the probabilities sum to 0");
        for (std::size_t c = 0; c < classes; ++c) row[c] = float(double(row[c]) / sum);
    }
    for (std::size_t i = 0; i < data.size(); ++i)
        if (line_of[i] == 0)
            throw std::runtime_error(csv_path + ": no probabilities for the training image " + data.sources[i] +
                                     " (matched by '" + teacher_key(data.sources[i]) + "')");
    return teacher;
}

}  // namespace fer
