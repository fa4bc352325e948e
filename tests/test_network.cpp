// Network: shapes, probabilities, logits vs softmax, seeding, backward plumbing, moves and the summary.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fer/architecture.hpp"
#include "fer/model_zoo.hpp"
#include "fer/network.hpp"
#include "fer/rng.hpp"
#include "gradcheck.hpp"

namespace {

fer::Network small_network() {
    fer::Architecture arch = fer::parse_architecture(R"(input channels=2 height=6 width=6
conv2d filters=3 kernel=3 stride=1 padding=same bias=true
batchnorm momentum=0.9 epsilon=0.001
relu
residual relu=true {
  conv2d filters=3 kernel=3 stride=1 padding=same bias=false
  squeeze_excite reduction=1
}
avgpool2d size=2 stride=2 padding=valid
flatten
dense units=4 bias=true
softmax
)",
                                                     "small.arch");
    return fer::Network(std::move(arch.layers), fer::InputSpec{2, 6, 6}, {"a", "b", "c", "d"});
}

std::vector<float> softmax_rows(const fer::Tensor& logits) {
    std::vector<float> out(logits.size());
    int classes = logits.shape().c;
    for (int n = 0; n < logits.shape().n; ++n) {
        const float* row = logits.sample(n);
        float max = row[0];
        for (int k = 1; k < classes; ++k) max = std::max(max, row[k]);
        float total = 0.0f;
        for (int k = 0; k < classes; ++k) total += std::exp(row[k] - max);
        for (int k = 0; k < classes; ++k) out[std::size_t(n * classes + k)] = std::exp(row[k] - max) / total;
    }
    return out;
}

}  // namespace

TEST_CASE("network: zoo models give (N,7,1,1) probabilities that match softmax(logits)") {
    fer::Context eval{false, 2, 0};
    fer::Tensor input = fer::testing::random_tensor({2, 1, 48, 48}, 11);
    for (const auto& name : fer::model_names()) {
        CAPTURE(name);
        fer::Network net = fer::build_model(name, 5);
        CHECK(net.ends_in_softmax());
        fer::Tensor probabilities = net.forward(input, eval);
        CHECK(probabilities.shape() == fer::Shape{2, 7, 1, 1});
        for (int n = 0; n < 2; ++n) {
            float total = 0.0f;
            for (int k = 0; k < 7; ++k) {
                CHECK(probabilities.sample(n)[k] >= 0.0f);
                total += probabilities.sample(n)[k];
            }
            CHECK(total == doctest::Approx(1.0f).epsilon(1e-5));
        }
        const fer::Tensor& logits = net.forward_logits(input, eval);
        CHECK(logits.shape() == fer::Shape{2, 7, 1, 1});
        std::vector<float> expected = softmax_rows(logits);
        for (std::size_t i = 0; i < expected.size(); ++i)
            CHECK(probabilities[i] == doctest::Approx(expected[i]).epsilon(1e-5));
    }
}

TEST_CASE("network: the fused eval forward gives the same bits as the layers run one by one") {
    // Every zoo model (conv + BN, conv + BN + ReLU, five_layer's dense + BN + ReLU, and the residual blocks'
    // nested sequences), at batch 1 (the small-batch kernels) and 3, on 1 and 2 threads; the BatchNorm
    // statistics are made non-trivial so that a wrong or missing scale and shift shows.
    for (const auto& name : fer::model_names())
        for (int batch : {1, 3})
            for (int threads : {1, 2}) {
                CAPTURE(name);
                CAPTURE(batch);
                CAPTURE(threads);
                fer::Network net = fer::build_model(name, 5);
                fer::Rng rng(9);
                for (float& v : net.state()) v = rng.uniform(0.2f, 1.5f);
                for (float& v : net.params()) v += rng.uniform(-0.01f, 0.01f);
                const fer::Tensor input = fer::testing::random_tensor({batch, 1, 48, 48}, 13);
                const fer::Context eval{false, threads, 0};
                const fer::Tensor fused = net.forward(input, eval);

                // With a weights_version, as the network passes one, so that the layers take the same kernels
                // (the Winograd convolutions need one).
                fer::Context layer_eval = eval;
                layer_eval.weights_version = 777;
                fer::Sequence& layers = const_cast<fer::Sequence&>(net.layers());
                std::vector<fer::Tensor> outputs(layers.size());
                for (std::size_t i = 0; i < layers.size(); ++i)
                    layers.layer(i).forward(i == 0 ? input : outputs[i - 1], outputs[i], layer_eval);
                const fer::Tensor& one_by_one = outputs.back();
                REQUIRE(fused.size() == one_by_one.size());
                CHECK(std::equal(fused.data(), fused.data() + fused.size(), one_by_one.data()));
            }
}

TEST_CASE("network: an eval forward sees parameters changed through params() or init") {
    // Layers keep regrouped copies of their weights between eval forwards (Context::weights_version);
    // every way of changing the parameters must make them stale. Compared with networks that never ran.
    for (const auto& name : fer::model_names())
        for (int batch : {1, 3}) {
            CAPTURE(name);
            CAPTURE(batch);
            const fer::Tensor input = fer::testing::random_tensor({batch, 1, 48, 48}, 21);
            const fer::Context eval{false, 2, 0};
            auto bits_of = [](const fer::Tensor& t) { return std::vector<float>(t.data(), t.data() + t.size()); };
            fer::Network net = fer::build_model(name, 5);
            const std::vector<float> first = bits_of(net.forward(input, eval));
            CHECK(bits_of(net.forward(input, eval)) == first);

            fer::Rng rng(3);
            for (float& v : net.params()) v *= rng.uniform(0.5f, 1.5f);
            fer::Network changed = fer::build_model(name, 5);
            fer::Rng same(3);
            for (float& v : changed.params()) v *= same.uniform(0.5f, 1.5f);
            const std::vector<float> after_change = bits_of(net.forward(input, eval));
            CHECK(after_change != first);
            CHECK(after_change == bits_of(changed.forward(input, eval)));

            net.init(11);
            fer::Network reseeded = fer::build_model(name, 11);
            CHECK(bits_of(net.forward(input, eval)) == bits_of(reseeded.forward(input, eval)));
        }
}

TEST_CASE("network: backward after a fused eval forward is refused") {
    fer::Network net = small_network();
    net.init(3);
    const fer::Tensor input = fer::testing::random_tensor({2, 2, 6, 6}, 4);
    net.forward_logits(input, fer::Context{false, 1, 0});
    CHECK_THROWS_AS(net.backward(input, fer::testing::random_tensor({2, 4, 1, 1}, 5), fer::Context{true, 1, 0}),
                    std::logic_error);
}

TEST_CASE("network: the seed decides the parameters and the dropout seeds") {
    fer::Network a = fer::build_model("five_layer", 7);
    fer::Network b = fer::build_model("five_layer", 7);
    fer::Network c = fer::build_model("five_layer", 8);
    CHECK(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
    CHECK(std::equal(a.state().begin(), a.state().end(), b.state().begin()));
    CHECK(a.architecture() == b.architecture());
    CHECK_FALSE(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
    CHECK(a.architecture() != c.architecture());  // the dropout seed is written in the architecture
    // Re-initialising with the first seed gives the first parameters back.
    c.init(7);
    CHECK(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
}

TEST_CASE("network: decay mask follows the layers' parameter blocks") {
    fer::Network net = fer::build_model("five_layer", 1);
    REQUIRE(net.decay_mask().size() == net.trainable_count());
    std::size_t decayed = 0;
    for (auto flag : net.decay_mask()) decayed += flag;
    // conv weights 32*1*25 + 32*32*16 + 64*32*25, dense weights 2304*1024 + 1024*7; no biases, no BN.
    CHECK(decayed == 800 + 16384 + 51200 + 2359296 + 7168);
    CHECK(net.decay_mask()[0] == 1);
}

TEST_CASE("network: backward gives the parameter gradients of the logits") {
    fer::Network net = small_network();
    net.init(3);
    fer::Tensor input = fer::testing::random_tensor({3, 2, 6, 6}, 4);
    fer::Tensor upstream = fer::testing::random_tensor({3, 4, 1, 1}, 5);
    fer::Context train{true, 1, 0};
    auto objective = [&] {
        // Training mode so BatchNorm uses batch statistics, as backward assumes; state changes do not
        // feed back into a training forward.
        const fer::Tensor& logits = net.forward_logits(input, train);
        double total = 0.0;
        for (std::size_t i = 0; i < logits.size(); ++i) total += double(logits[i]) * upstream[i];
        return total;
    };
    objective();
    net.zero_grads();
    net.backward(input, upstream, train);
    std::vector<float> analytic(net.grads().begin(), net.grads().end());
    // Accumulates: a second backward doubles the gradients.
    net.backward(input, upstream, train);
    CHECK(net.grads()[0] == doctest::Approx(2 * analytic[0]));
    // dlogits after a full forward (which ends in the softmax) is a mistake the network catches.
    net.forward(input, train);
    CHECK_THROWS_AS(net.backward(input, upstream, train), std::logic_error);

    const float step = 1e-2f;
    std::size_t nonzero = 0;
    for (std::size_t i = 0; i < net.trainable_count(); i += 7) {
        float saved = net.params()[i];
        net.params()[i] = saved + step;
        double plus = objective();
        net.params()[i] = saved - step;
        double minus = objective();
        net.params()[i] = saved;
        double numeric = (plus - minus) / (2 * step);
        CAPTURE(i);
        CHECK(analytic[i] == doctest::Approx(numeric).epsilon(2e-2).scale(1.0));
        nonzero += analytic[i] != 0.0f;
    }
    CHECK(nonzero > 5);
}

TEST_CASE("network: errors for wrong inputs and mismatched class lists") {
    fer::Network net = small_network();
    fer::Context eval{false, 1, 0};
    CHECK_THROWS_AS(net.forward(fer::Tensor({1, 1, 6, 6}), eval), std::invalid_argument);
    CHECK_THROWS_AS(net.forward(fer::Tensor({1, 2, 6, 5}), eval), std::invalid_argument);
    fer::Architecture arch =
        fer::parse_architecture("input channels=1 height=4 width=4\nflatten\ndense units=3\n", "x");
    CHECK_THROWS_WITH_AS(fer::Network(std::move(arch.layers), fer::InputSpec{1, 4, 4}, {"a", "b"}),
                         doctest::Contains("2 classes"), std::invalid_argument);
    fer::Architecture spatial = fer::parse_architecture("input channels=1 height=4 width=4\nconv2d filters=2\n", "x");
    CHECK_THROWS_AS(fer::Network(std::move(spatial.layers), fer::InputSpec{1, 4, 4}, {"a", "b"}),
                    std::invalid_argument);
}

TEST_CASE("network: a moved network still computes the same outputs") {
    fer::Network original = small_network();
    original.init(9);
    fer::Tensor input = fer::testing::random_tensor({2, 2, 6, 6}, 6);
    fer::Context eval{false, 1, 0};
    fer::Tensor before = original.forward(input, eval);
    fer::Network moved = std::move(original);
    fer::Tensor after = moved.forward(input, eval);
    CHECK(std::equal(before.span().begin(), before.span().end(), after.span().begin()));
    std::vector<fer::Network> networks;
    networks.push_back(std::move(moved));
    networks.push_back(small_network());  // may reallocate the vector, moving the first network again
    fer::Tensor in_vector = networks[0].forward(input, eval);
    CHECK(std::equal(before.span().begin(), before.span().end(), in_vector.span().begin()));
}

TEST_CASE("network: summary lists the layers and the totals") {
    CHECK(fer::with_thousands_separators(0) == "0");
    CHECK(fer::with_thousands_separators(999) == "999");
    CHECK(fer::with_thousands_separators(1000) == "1,000");
    CHECK(fer::with_thousands_separators(2438311) == "2,438,311");

    std::string gap = fer::build_model("gap", 1).summary();
    CHECK(gap.find("Trainable params: 641,463\n") != std::string::npos);
    CHECK(gap.find("Non-trainable params: 1,472\n") != std::string::npos);
    CHECK(gap.find("Total params: 642,935\n") != std::string::npos);
    CHECK(gap.find("(None,16,48,48)") != std::string::npos);
    CHECK(gap.find("(None,7,1,1)") != std::string::npos);
    CHECK(gap.find("global_avg_pool") != std::string::npos);
    CHECK(gap.find("800") != std::string::npos);  // the first convolution: 16*49 + 16

    std::string resnet = fer::build_model("resnet_se", 1).summary();
    CHECK(resnet.find("\nresidual ") != std::string::npos);
    CHECK(resnet.find("\n  conv2d ") != std::string::npos);  // body rows are indented
    CHECK(resnet.find("\n  squeeze_excite ") != std::string::npos);
    CHECK(resnet.find("\n  shortcut:") != std::string::npos);
    CHECK(resnet.find("\n    conv2d ") != std::string::npos);
}

TEST_CASE("network: a forward profile times each step, fused steps once, nested sequences not at all") {
    fer::Network net = small_network();
    net.init(3);
    const fer::Tensor input = fer::testing::random_tensor({2, 2, 6, 6}, 4);
    fer::ForwardProfile profile;
    fer::Context eval = fer::Context::eval(fer::RunOptions{1});
    eval.profile = &profile;
    const fer::Tensor plain = net.forward(input, fer::Context::eval(fer::RunOptions{1}));
    const std::vector<float> expected(plain.data(), plain.data() + plain.size());
    for (int run = 0; run < 2; ++run) {
        const fer::Tensor& out = net.forward(input, eval);
        CHECK(std::vector<float>(out.data(), out.data() + out.size()) == expected);  // timing changes nothing
    }
    // conv2d + batchnorm + relu fused, the residual block one step (its own layers unrecorded), then one each.
    REQUIRE(profile.seconds.size() == 8);
    REQUIRE(profile.layers.size() == 8);
    const std::vector<std::size_t> runs{2, 0, 0, 2, 2, 2, 2, 2};
    const std::vector<std::size_t> spans{3, 0, 0, 1, 1, 1, 1, 1};
    for (std::size_t i = 0; i < 8; ++i) {
        CAPTURE(i);
        CHECK(profile.seconds[i].size() == runs[i]);
        CHECK(profile.layers[i] == spans[i]);
        for (double seconds : profile.seconds[i]) CHECK(seconds >= 0.0);
    }
    // A training forward fuses nothing.
    fer::ForwardProfile training;
    fer::Context train = fer::Context::train(fer::RunOptions{1}, 0);
    train.profile = &training;
    net.forward_logits(input, train);
    REQUIRE(training.seconds.size() == 8);
    for (std::size_t i = 0; i < 7; ++i) {
        CAPTURE(i);
        CHECK(training.seconds[i].size() == 1);
        CHECK(training.layers[i] == 1);
    }
    CHECK(training.seconds[7].empty());  // the softmax, left to the loss
}
