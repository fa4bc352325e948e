// Reading a teacher's probabilities for distillation: alignment with the training images by class
// folder and file name, normalisation, and a clear error for every way the file can be wrong.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fer/atomic_file.hpp"
#include "fer/dataset.hpp"
#include "fer/teacher.hpp"
#include "temp_dir.hpp"

namespace fer {
namespace {

// Three images of classes a, b; sources under one root.
Dataset three_images() {
    Dataset d;
    d.height = d.width = 1;
    d.classes = {"a", "b"};
    d.pixels = {0, 0, 0};
    d.labels = {0, 1, 1};
    d.sources = {"/data/train/a/1.png", "/data/train/b/2.png", "/data/train/b/3.png"};
    return d;
}

std::string write_csv(TempDir& dir, const std::string& text) {
    const std::string path = dir.file("teacher.csv");
    write_file_atomically(path, text);
    return path;
}

std::string error_of(const std::string& path, const Dataset& data) {
    try {
        load_teacher_probabilities(path, data);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("teacher probabilities are matched by class folder and file name, and normalised") {
    TempDir dir("teacher");
    // Another root, another order, a row for an image not in the data, a quoted source with a comma.
    const std::string path = write_csv(dir,
                                       "source,label,a,b\n"
                                       "../elsewhere/train/b/3.png,b,0.25,0.75\n"
                                       "\"/x/train/b/9,9.png\",b,1,0\n"
                                       "../elsewhere/train/a/1.png,a,2,2\n"
                                       "../elsewhere/train/b/2.png,b,0,1\n");
    const TeacherProbabilities teacher = load_teacher_probabilities(path, three_images());
    const std::vector<float> expected = {0.5f, 0.5f, 0.0f, 1.0f, 0.25f, 0.75f};
    CHECK(teacher.rows == expected);
    CHECK(teacher.crc != 0);
    CHECK(teacher_key("/data/train/happy/12.png") == "happy/12.png");
    CHECK(teacher_key("12.png") == "12.png");
}

TEST_CASE("a wrong teacher file is refused naming the file, the line and the problem") {
    TempDir dir("teacher");
    const Dataset data = three_images();
    const std::string rows = "p/a/1.png,a,1,0\np/b/2.png,b,0,1\np/b/3.png,b,0,1\n";
    CHECK(error_of(dir.file("missing.csv"), data).find("missing.csv: cannot open") != std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,b,a\n" + rows), data).find("teacher.csv:1: the header is not") !=
          std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,a,b\np/a/1.png,a,1\n"), data).find("teacher.csv:2: 3 fields") !=
          std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,a,b\np/a/1.png,a,-1,2\n"), data)
              .find("teacher.csv:2: the a probability '-1' is not a finite number") != std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,a,b\np/a/1.png,a,x,2\n"), data).find("'x'") != std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,a,b\np/a/1.png,a,0,0\n"), data)
              .find("teacher.csv:2: the probabilities sum to 0") != std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,a,b\n" + rows + "q/a/1.png,a,1,0\n"), data)
              .find("teacher.csv:5: image 'q/a/1.png' was already given on line 2") != std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,a,b\np/a/1.png,a,1,0\np/b/2.png,b,0,1\n"), data)
              .find("no probabilities for the training image /data/train/b/3.png") != std::string::npos);
    CHECK(error_of(write_csv(dir, "source,label,a,b\n\"p/a/1.png,a,1,0\n"), data).find("not closed") !=
          std::string::npos);
}

}  // namespace fer
