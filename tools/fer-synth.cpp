// fer-synth: writes a small synthetic dataset in FER2013's folder layout (for demos and tests).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "fer/model_zoo.hpp"
#include "fer/synthetic_data.hpp"

int main(int argc, char** argv) {
    CLI::App app{"fer-synth: write a synthetic dataset, OUT/{train,val,test}/<class>/*.png"};
    app.set_version_flag("--version", std::string("fer-synth ") + FER_VERSION);
    std::string out;
    std::size_t per_class = 60;
    std::uint64_t seed = 1;
    app.add_option("--out", out, "output folder")->required();
    app.add_option("--per-class", per_class, "training images per class (val and test get a quarter)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seed", seed, "random seed")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    try {
        auto classes = fer::fer2013_classes();
        std::size_t total = fer::write_synthetic_dataset(out + "/train", classes, per_class, seed);
        std::size_t held_out = std::max<std::size_t>(per_class / 4, 2);
        total += fer::write_synthetic_dataset(out + "/val", classes, held_out, seed + 1);
        total += fer::write_synthetic_dataset(out + "/test", classes, held_out, seed + 2);
        std::printf("wrote %zu images to %s\n", total, out.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fer-synth: error: %s\n", e.what());
        return 1;
    }
}
