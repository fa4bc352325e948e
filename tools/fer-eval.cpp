// fer-eval: accuracy, per-class metrics and the confusion matrix of one model or a soft-voting
// ensemble; or the class probabilities of one image.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "fer/atomic_file.hpp"
#include "fer/conv_bf16.hpp"
#include "fer/dataset.hpp"
#include "fer/ensemble.hpp"
#include "fer/evaluate.hpp"
#include "fer/image.hpp"
#include "fer/model_file.hpp"
#include "fer/svg_plot.hpp"

int main(int argc, char** argv) {
    CLI::App app{"fer-eval: evaluate emotion models (soft-voting ensemble when several are given)"};
    app.set_version_flag("--version", std::string("fer-eval ") + FER_VERSION);
    std::vector<std::string> model_paths;
    std::vector<float> weights;
    std::string data, split = "PrivateTest", json_path, plot_path, markdown_path, image_path, probabilities_path;
    std::string precision = "fp32";
    fer::PredictOptions predict;
    bool strict = false;
    app.add_option("--model", model_paths,
                   "model file; repeat for a soft-voting ensemble, or one ensemble file NAME.txt (default: "
                   "data/models/ensemble.txt, else every data/models/*.fer)");
    app.add_option("--weights", weights, "one weight per model for the ensemble average (default equal)");
    auto* data_option =
        app.add_option("--data", data, "a folder of class folders, a folder holding test/, or fer2013.csv");
    app.add_option("--split", split, "split of a csv or of a folder with splits")->capture_default_str();
    auto* image_option = app.add_option("--image", image_path, "print the class probabilities of this one image");
    data_option->excludes(image_option);
    app.add_option("--json", json_path, "write the report as JSON");
    app.add_option("--plot", plot_path, "write the confusion-matrix heat map (.svg)");
    app.add_option("--markdown", markdown_path, "write the per-class table and confusion matrix as Markdown");
    app.add_option("--probabilities", probabilities_path, "write each image's class probabilities as CSV");
    app.add_option("--precision", precision, "inference arithmetic: fp32, or bf16 (AVX-512 BF16 convolutions)")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16"}));
    app.add_flag("--tta", predict.tta, "test-time augmentation: average each image with its mirror");
    app.add_option("--threads", predict.threads, "threads (0 = all cores)")->capture_default_str();
    app.add_option("--batch", predict.batch, "inference batch size")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_flag("--strict", strict, "an unreadable image is an error instead of being skipped");
    CLI11_PARSE(app, argc, argv);

    try {
        predict.precision = fer::parse_precision(precision);
        if (predict.precision == fer::Precision::bf16 && !fer::bf16_supported())
            std::fprintf(stderr, "fer-eval: this build or CPU has no AVX-512 BF16: evaluating in fp32\n");
        if (data.empty() && image_path.empty()) throw std::invalid_argument("give --data DIR or --image FILE");
        const fer::EnsembleSpec ensemble = fer::ensemble_from_arguments(model_paths, weights, "data/models");
        model_paths = ensemble.model_paths;
        weights = ensemble.weights;
        predict.tta = predict.tta || ensemble.tta;
        if (model_paths.empty())
            throw std::invalid_argument("no model: pass --model FILE (there is no data/models/*.fer here)");
        if (!ensemble.source.empty()) std::fprintf(stderr, "fer-eval: the models of %s\n", ensemble.source.c_str());
        if (!plot_path.empty() && !plot_path.ends_with(".svg"))
            throw std::invalid_argument("--plot " + plot_path + ": the heat map is written as SVG; use a .svg name");
        std::vector<fer::LoadedModel> models;
        std::vector<fer::Network*> networks;
        models.reserve(model_paths.size());
        for (const auto& path : model_paths) models.push_back(fer::load_model(path));
        for (auto& m : models) networks.push_back(&m.network);
        const auto& classes = networks[0]->class_names();

        fer::Dataset dataset;
        if (!image_path.empty()) {
            const fer::InputSpec& in = networks[0]->input();
            fer::GreyImage face = fer::load_face_image(image_path, in.width, in.height);
            dataset.height = in.height, dataset.width = in.width;
            dataset.classes = classes;
            dataset.pixels = face.pixels;
            dataset.labels = {0};
            dataset.sources = {image_path};
            std::vector<float> p = fer::predict_probabilities(networks, weights, dataset, predict);
            std::size_t best = 0;
            for (std::size_t c = 0; c < classes.size(); ++c) {
                if (p[c] > p[best]) best = c;
                std::printf("%-10s %6.2f %%  %s\n", classes[c].c_str(), 100 * p[c],
                            std::string(std::size_t(40 * p[c] + 0.5), '#').c_str());
            }
            std::printf("prediction: %s (%.2f %%)\n", classes[best].c_str(), 100 * p[best]);
            return 0;
        }

        fer::LoadOptions load;
        load.classes = classes;
        load.strict = strict;
        load.threads = predict.threads;
        load.height = networks[0]->input().height;
        load.width = networks[0]->input().width;
        fer::LoadReport report;
        dataset = fer::load_dataset(data, split, load, &report);
        for (const auto& line : fer::load_warnings(report, data)) std::fprintf(stderr, "warning: %s\n", line.c_str());

        std::vector<float> probabilities = fer::predict_probabilities(networks, weights, dataset, predict);
        fer::Evaluation evaluation = fer::evaluate_probabilities(probabilities, dataset);
        std::printf("models: ");
        for (std::size_t i = 0; i < model_paths.size(); ++i) std::printf("%s%s", i ? ", " : "", model_paths[i].c_str());
        std::printf("%s\ndata: %s (%s)\n", predict.tta ? " (with mirror TTA)" : "", data.c_str(), split.c_str());
        std::printf("%s", fer::format_report(evaluation.matrix, classes).c_str());
        if (!json_path.empty())
            fer::write_file_atomically(json_path, fer::evaluation_json(evaluation, classes, model_paths));
        if (!markdown_path.empty())
            fer::write_file_atomically(markdown_path, fer::format_markdown(evaluation.matrix, classes));
        if (!probabilities_path.empty())
            fer::write_file_atomically(probabilities_path, fer::probabilities_csv(probabilities, dataset));
        if (!plot_path.empty()) {
            char title[128];
            std::snprintf(title, sizeof title, "confusion matrix (rows true), accuracy %.2f %%",
                          100 * evaluation.matrix.accuracy());
            fer::write_file_atomically(plot_path, fer::confusion_heatmap_svg(evaluation.matrix, classes, title));
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fer-eval: error: %s\n", e.what());
        return 1;
    }
}
