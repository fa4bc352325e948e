// The hot loops allocate nothing once warm: a training step (forward, loss, backward, optimizer step) and the
// eval forward the player runs per face, for every zoo model, with Winograd and without, with each optimizer.
// Their buffers are the layers' caches and workspaces and the optimizer's moments, sized by the first call.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "fer/loss.hpp"
#include "fer/model_zoo.hpp"
#include "fer/network.hpp"
#include "fer/optimizer.hpp"
#include "gradcheck.hpp"

using namespace fer;

TEST_CASE("a warm training step and a warm eval forward allocate nothing") {
    // The counter must see allocations at all, or a zero below would prove nothing.
    const std::uint64_t before_probe = fer::testing::allocations();
    auto probe = std::make_unique<std::vector<int>>(100);
    CHECK(fer::testing::allocations() >= before_probe + 2);

    for (const std::string& name : model_names())
        for (bool winograd : {true, false})
            for (const char* optimizer_kind : {"sgd", "adam", "adamw"}) {
                CAPTURE(name);
                CAPTURE(winograd);
                CAPTURE(optimizer_kind);
                Network network = build_model(name, 3);
                OptimizerSettings settings;
                settings.kind = optimizer_kind;
                settings.threads = 2;
                auto optimizer = make_optimizer(settings);
                const RunOptions options{2, Precision::fp32, winograd};
                const int batch = 8;
                const Tensor images = fer::testing::random_tensor({batch, 1, 48, 48}, 4);
                const std::vector<int> labels = {0, 1, 2, 3, 4, 5, 6, 0};
                Tensor dlogits;
                std::uint64_t step = 0;
                auto train_step = [&] {
                    const Context ctx = Context::train(options, step++);
                    network.zero_grads();
                    const Tensor& logits = network.forward_logits(images, ctx);
                    softmax_cross_entropy(logits, labels, {}, &dlogits);
                    network.backward(images, dlogits, ctx);
                    optimizer->step(network.params(), network.grads(), network.decay_mask(), 1e-3f);
                };
                train_step();  // sizes the caches, workspaces and the optimizer's moments
                train_step();
                const std::uint64_t before_training = fer::testing::allocations();
                for (int i = 0; i < 3; ++i) train_step();
                CHECK(fer::testing::allocations() == before_training);

                const Tensor face = fer::testing::random_tensor({1, 1, 48, 48}, 5);
                const Context eval = Context::eval(options);
                network.forward(face, eval);  // converts the weights for this version, sizes the batch-1 buffers
                network.forward(face, eval);
                const std::uint64_t before_eval = fer::testing::allocations();
                for (int i = 0; i < 3; ++i) network.forward(face, eval);
                CHECK(fer::testing::allocations() == before_eval);
            }
}
