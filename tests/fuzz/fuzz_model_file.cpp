// Fuzz target: model files, through deserialize_model (what load_model runs on a file's bytes). Each
// input is read twice: as it is, and with its last four bytes replaced by the CRC-32 of the rest, so that
// mutations also get past the checksum into the architecture parser and the network constructor. A model
// that loads is run once (eval forward of a zero image) when it is small enough to be quick, as fer-eval
// would run it. Documented outcome: success or std::runtime_error naming the input.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include "fer/checksum.hpp"
#include "fer/context.hpp"
#include "fer/model_file.hpp"
#include "fuzz_support.hpp"

namespace {

// Bigger networks load fine but would make an iteration slow; loading them is still checked.
constexpr std::uint64_t max_forward_macs = 4'000'000;
constexpr std::size_t max_forward_input = 1 << 16;

void run_forward_once(fer::Network& net) {
    const fer::InputSpec& input = net.input();
    const std::size_t input_size = std::size_t(input.channels) * std::size_t(input.height) * std::size_t(input.width);
    if (net.macs() > max_forward_macs || input_size > max_forward_input) return;
    const fer::Tensor image(fer::Shape{1, input.channels, input.height, input.width});
    const fer::Context eval_context{false, 1, 0};
    fer::fuzz::must_not_throw("forward of a loaded model", [&] {
        const fer::Tensor& out = net.forward(image, eval_context);
        const fer::Shape expected{1, int(net.class_names().size()), 1, 1};
        if (!(out.shape() == expected))
            fer::fuzz::report_finding("a loaded model's output is " + out.shape().str() + ", expected " +
                                      expected.str());
    });
}

void load_and_run(std::span<const std::uint8_t> bytes) {
    std::optional<fer::LoadedModel> model;
    const bool loaded = fer::fuzz::succeeds_or_throws<std::runtime_error>(
        "deserialize_model", [&] { model.emplace(fer::deserialize_model(bytes, "fuzz input")); });
    if (loaded) run_forward_once(model->network);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes = fer::fuzz::as_bytes(data, size);
    load_and_run(bytes);
    constexpr std::size_t crc_bytes = 4;
    if (size > crc_bytes) {
        std::vector<std::uint8_t> resealed(bytes.begin(), bytes.end());
        const std::uint32_t crc = fer::crc32(bytes.first(size - crc_bytes));
        for (std::size_t i = 0; i < crc_bytes; ++i) resealed[size - crc_bytes + i] = std::uint8_t(crc >> (8 * i));
        load_and_run(resealed);
    }
    return 0;
}
