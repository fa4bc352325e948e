// A teacher's class probabilities for knowledge distillation (fer-train --teacher): the CSV that
// fer-eval --probabilities writes (source,label,<one column per class>), read and aligned with the
// training images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fer/dataset.hpp"

namespace fer {

struct TeacherProbabilities {
    std::vector<float> rows;  // data.size() rows of data.classes.size() probabilities, in data's order
    std::uint32_t crc = 0;    // of the file's bytes: names the teacher in a run's fingerprint
};

// Rows are matched to data's images by the last two components of their source (class folder and file
// name), so the file may name the same images by another path; each row is scaled to sum to 1. Throws
// std::runtime_error naming the file (and the line) for an unreadable file, a header whose class columns
// are not data.classes in order, a row of the wrong length, a probability that is not a finite number
// >= 0, a row summing to 0, an image given twice, and, naming the image, a training image without a row.
// Rows for images not in data (e.g. left out by --limit) are ignored.
TeacherProbabilities load_teacher_probabilities(const std::string& csv_path, const Dataset& data);

// The matching key of a source: its last two '/'-separated components ("happy/123.png").
std::string teacher_key(const std::string& source);

}  // namespace fer
