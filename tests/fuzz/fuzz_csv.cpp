// Fuzz target: the Kaggle fer2013.csv reader, through read_fer2013_csv (what load_fer2013_csv runs on the
// open file). Each input is read three ways: every row at 48x48, the Training rows resized to 24x24 (the
// Usage filter and the resize path) and the "test" rows (a folder name mapped to PrivateTest). Documented
// outcome: a consistent Dataset, or std::runtime_error naming the source.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "fer/dataset.hpp"
#include "fuzz_support.hpp"

namespace {

const std::string source_name = "fuzz.csv";

void check_consistent(const fer::Dataset& dataset, const fer::LoadOptions& options) {
    const std::size_t rows = dataset.labels.size();
    if (rows == 0) fer::fuzz::report_finding("read_fer2013_csv returned no rows instead of throwing");
    if (dataset.height != options.height || dataset.width != options.width)
        fer::fuzz::report_finding("dataset images are " + std::to_string(dataset.width) + "x" +
                                  std::to_string(dataset.height) + ", options asked for " +
                                  std::to_string(options.width) + "x" + std::to_string(options.height));
    if (dataset.pixels.size() != rows * dataset.image_size() || dataset.sources.size() != rows)
        fer::fuzz::report_finding("dataset buffers disagree: " + std::to_string(rows) + " labels, " +
                                  std::to_string(dataset.pixels.size()) + " pixels, " +
                                  std::to_string(dataset.sources.size()) + " sources");
    for (int label : dataset.labels)
        if (label < 0 || std::size_t(label) >= options.classes.size())
            fer::fuzz::report_finding("label " + std::to_string(label) + " is outside the classes");
    for (const std::string& source : dataset.sources)
        if (source.rfind(source_name + ":", 0) != 0) fer::fuzz::report_finding("row source '" + source + "'");
}

void read_as(const std::string& text, const std::string& split, int side) {
    fer::LoadOptions options;
    options.height = options.width = side;
    std::optional<fer::Dataset> dataset;
    fer::fuzz::succeeds_or_throws<std::runtime_error>("read_fer2013_csv", [&] {
        std::istringstream stream(text);
        try {
            dataset = fer::read_fer2013_csv(stream, source_name, split, options);
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()).rfind(source_name + ":", 0) != 0)
                fer::fuzz::report_finding("error does not name the source: " + std::string(e.what()));
            throw;
        }
    });
    if (dataset) check_consistent(*dataset, options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text = fer::fuzz::as_string(data, size);
    read_as(text, "", 48);
    read_as(text, "Training", 24);
    read_as(text, "test", 48);
    return 0;
}
