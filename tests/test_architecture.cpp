// Architecture text: round trips, the zoo's exact parameter counts, and parse errors with line numbers.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "fer/architecture.hpp"
#include "fer/layers.hpp"
#include "fer/model_zoo.hpp"

namespace {

// The message of the std::invalid_argument that parsing `text` throws ("" when it parses).
std::string parse_error(const std::string& text) {
    try {
        fer::parse_architecture(text, "test.arch");
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

const char* kHandWritten = R"(# a hand-written architecture
input channels=1 height=12 width=10

conv2d filters=4 kernel=4x3 stride=1x2 padding=same bias=false   # non-square kernel and stride
batchnorm momentum=0.9 epsilon=0.0001
relu
residual relu=true {
  conv2d filters=6 kernel=3 stride=2 padding=same bias=false
  batchnorm momentum=0.99 epsilon=0.001
  residual relu=false {
    conv2d filters=6 kernel=1 stride=1 padding=same bias=true
  }
  squeeze_excite reduction=2
} shortcut {
  conv2d filters=6 kernel=1 stride=2 padding=valid bias=false
}
avgpool2d size=2 stride=1 padding=valid
maxpool2d size=2 stride=2 padding=same
sigmoid
global_avg_pool
flatten
dropout rate=0.25 seed=42
dense units=3 bias=true
softmax
)";

}  // namespace

TEST_CASE("architecture: hand-written text parses and writes back canonically") {
    fer::Architecture arch = fer::parse_architecture(kHandWritten, "hand.arch");
    CHECK(arch.input == fer::Shape{1, 1, 12, 10});
    REQUIRE(arch.layers.size() == 12);
    CHECK(arch.layers.layer(0).kind() == "conv2d");
    const auto& conv = dynamic_cast<const fer::Conv2D&>(arch.layers.layer(0));
    CHECK(conv.spec().kernel_h == 4);
    CHECK(conv.spec().kernel_w == 3);
    CHECK(conv.spec().stride_w == 2);
    CHECK_FALSE(conv.spec().bias);
    const auto& residual = dynamic_cast<const fer::Residual&>(arch.layers.layer(3));
    CHECK(residual.body().size() == 4);
    CHECK(residual.shortcut().size() == 1);
    CHECK(dynamic_cast<const fer::Dropout&>(arch.layers.layer(9)).seed() == 42);

    std::string written = fer::write_architecture(arch.input, arch.layers);
    // The canonical text drops comments and blank lines, and keeps everything else.
    CHECK(written.find('#') == std::string::npos);
    CHECK(written.find("kernel=4x3 stride=1x2") != std::string::npos);
    CHECK(written.find("} shortcut {") != std::string::npos);
    fer::Architecture again = fer::parse_architecture(written, "written.arch");
    CHECK(fer::write_architecture(again.input, again.layers) == written);

    fer::Network net(std::move(arch.layers), fer::InputSpec{1, 12, 10}, {"a", "b", "c"});
    CHECK(net.output_shape() == fer::Shape{1, 3, 1, 1});
}

TEST_CASE("architecture: missing optional keys take the layer defaults") {
    fer::Architecture arch = fer::parse_architecture(
        "input channels=3 height=8 width=8\nconv2d filters=2\nbatchnorm\nmaxpool2d\nflatten\ndense units=5\n", "x");
    std::string written = fer::write_architecture(arch.input, arch.layers);
    CHECK(written ==
          "input channels=3 height=8 width=8\n"
          "conv2d filters=2 kernel=3 stride=1 padding=same bias=true\n"
          "batchnorm momentum=0.99 epsilon=0.001\n"
          "maxpool2d size=2 stride=2 padding=valid\n"
          "flatten\n"
          "dense units=5 bias=true\n");
}

TEST_CASE("architecture: every zoo model round-trips and rebuilds with the same counts") {
    for (const auto& name : fer::model_names()) {
        CAPTURE(name);
        fer::Network net = fer::build_model(name, 3);
        std::string text = net.architecture();
        fer::Architecture arch = fer::parse_architecture(text, name);
        CHECK(fer::write_architecture(arch.input, arch.layers) == text);
        fer::Network rebuilt(std::move(arch.layers), net.input(), net.class_names());
        CHECK(rebuilt.trainable_count() == net.trainable_count());
        CHECK(rebuilt.state_count() == net.state_count());
        CHECK(rebuilt.macs() == net.macs());
    }
}

TEST_CASE("model zoo: exact parameter counts of the paper's models") {
    fer::Network five_layer = fer::build_model("five_layer", 1);
    CHECK(five_layer.trainable_count() == 2438311);
    CHECK(five_layer.output_shape() == fer::Shape{1, 7, 1, 1});

    fer::Network gap = fer::build_model("gap", 1);
    CHECK(gap.trainable_count() == 641463);
    CHECK(gap.state_count() == 1472);
    CHECK(gap.trainable_count() + gap.state_count() == 642935);

    fer::Network resnet = fer::build_model("resnet_se", 1);
    CHECK(resnet.trainable_count() >= 1000000);
    CHECK(resnet.trainable_count() <= 3000000);
    CHECK(resnet.macs() <= 150000000);

    fer::Network vgg = fer::build_model("vgg_small", 1);
    CHECK(vgg.output_shape() == fer::Shape{1, 7, 1, 1});

    // Other class lists and input sizes size the first and last layers.
    fer::Network three = fer::build_model("gap", 1, fer::InputSpec{3, 32, 32}, {"x", "y", "z"});
    CHECK(three.output_shape() == fer::Shape{1, 3, 1, 1});
    CHECK(three.architecture().rfind("input channels=3 height=32 width=32\n", 0) == 0);

    try {
        fer::build_model("lenet", 1);
        FAIL("unknown model accepted");
    } catch (const std::invalid_argument& e) {
        std::string message = e.what();
        CHECK(message.find("lenet") != std::string::npos);
        CHECK(message.find("five_layer") != std::string::npos);
        CHECK(message.find("vgg_small") != std::string::npos);
    }
}

TEST_CASE("architecture: parse errors name the source and the line") {
    struct Case {
        const char* text;
        const char* where;  // "test.arch:LINE:"
        const char* what;
    };
    const Case cases[] = {
        {"", "test.arch:0:", "empty architecture"},
        {"# only a comment\n\n", "test.arch:0:", "empty architecture"},
        {"conv2d filters=3\n", "test.arch:1:", "first line must be 'input"},
        {"input channels=1 height=48\n", "test.arch:1:", "missing key 'width'"},
        {"input channels=1 height=48 width=0\n", "test.arch:1:", "bad value '0' for key 'width'"},
        {"input channels=1 height=8 width=8\n\nconv3d filters=3\n", "test.arch:3:", "unknown layer kind 'conv3d'"},
        {"input channels=1 height=8 width=8\nconv3d\n", "test.arch:2:", "squeeze_excite"},  // lists known kinds
        {"input channels=1 height=8 width=8\nconv2d filter=3\n", "test.arch:2:", "missing key 'filters'"},
        {"input channels=1 height=8 width=8\nconv2d filters=3 colour=red\n", "test.arch:2:", "unknown key 'colour'"},
        {"input channels=1 height=8 width=8\nconv2d filters=abc\n", "test.arch:2:", "bad value 'abc'"},
        {"input channels=1 height=8 width=8\nconv2d filters=3 kernel=3x\n", "test.arch:2:", "bad value ''"},
        {"input channels=1 height=8 width=8\nconv2d filters=3 padding=full\n", "test.arch:2:", "bad value 'full'"},
        {"input channels=1 height=8 width=8\nconv2d filters=3 bias=yes\n", "test.arch:2:", "true or false"},
        {"input channels=1 height=8 width=8\ndense units=-3\n", "test.arch:2:", "bad value '-3'"},
        {"input channels=1 height=8 width=8\nbatchnorm momentum=0.9x\n", "test.arch:2:", "bad value '0.9x'"},
        {"input channels=1 height=8 width=8\nbatchnorm momentum=nan\n", "test.arch:2:", "finite number"},
        {"input channels=1 height=8 width=8\ndropout\n", "test.arch:2:", "missing key 'rate'"},
        {"input channels=1 height=8 width=8\ndropout rate=0.5 seed=-1\n", "test.arch:2:", "unsigned integer"},
        {"input channels=1 height=8 width=8\ndense units=3 units=4\n", "test.arch:2:", "given twice"},
        {"input channels=1 height=8 width=8\ndense units\n", "test.arch:2:", "expected key=value"},
        {"input channels=1 height=8 width=8\nrelu\ninput channels=1 height=8 width=8\n",
         "test.arch:3:", "only appear on the first line"},
        {"input channels=1 height=8 width=8\nrelu\n}\n", "test.arch:3:", "without an open residual"},
        {"input channels=1 height=8 width=8\nrelu {\n}\n", "test.arch:2:", "only 'residual' opens a block"},
        {"input channels=1 height=8 width=8\nresidual relu=true\nrelu\n", "test.arch:2:", "must end with '{'"},
        {"input channels=1 height=8 width=8\nrelu\nresidual relu=true {\n  relu\n", "test.arch:3:", "missing '}'"},
        {"input channels=1 height=8 width=8\nresidual {\n  relu\n} shortcut {\n  relu\n\n",
         "test.arch:4:", "missing '}'"},
        {"input channels=1 height=8 width=8\nresidual relu=maybe {\n}\n", "test.arch:2:", "bad value 'maybe'"},
        {"input channels=1 height=8 width=8\nresidual {\n  relu\n} bypass {\n}\n",
         "test.arch:4:", "expected '}' or '} shortcut {'"},
        {"input channels=1 height=8 width=8\nresidual {\n} shortcut {\n} extra\n",
         "test.arch:4:", "expected '}' to close the shortcut"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.text);
        std::string message = parse_error(c.text);
        CHECK(message.rfind(c.where, 0) == 0);
        CHECK(message.find(c.what) != std::string::npos);
    }
}

TEST_CASE("make_layer: builds each kind and refuses what it cannot build") {
    CHECK(fer::make_layer("relu", {})->kind() == "relu");
    CHECK(fer::make_layer("global_avg_pool", {})->kind() == "global_avg_pool");
    auto dense = fer::make_layer("dense", {{"units", "9"}, {"bias", "false"}});
    CHECK(dense->config() == fer::LayerConfig{{"units", "9"}, {"bias", "false"}});
    CHECK_THROWS_AS(fer::make_layer("residual", {}), std::invalid_argument);
    CHECK_THROWS_AS(fer::make_layer("relu", {{"slope", "0.1"}}), std::invalid_argument);
    CHECK_THROWS_WITH_AS(fer::make_layer("lstm", {}), doctest::Contains("known kinds"), std::invalid_argument);
    for (const auto& kind : fer::layer_kinds()) {
        CAPTURE(kind);
        // Every listed kind is known to the factory (its error, if any, is about keys, not the kind).
        try {
            fer::make_layer(kind, {});
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find("unknown layer kind") == std::string::npos);
        }
    }
}
