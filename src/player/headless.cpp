#include "fer/player/headless.hpp"

#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "fer/player/frame_source.hpp"

namespace fer::player {
namespace {

// Four decimals are plenty for a probability and keep the lines short.
double rounded(double value) {
    return std::round(value * 1e4) / 1e4;
}

}  // namespace

std::string decision_json_line(const Decision& decision) {
    nlohmann::ordered_json line;
    line["time"] = decision.time;
    line["event"] = decision.event;
    if (!decision.emotion.empty()) {
        line["emotion"] = decision.emotion;
        line["confidence"] = rounded(decision.confidence);
        nlohmann::ordered_json probabilities = nlohmann::ordered_json::object();
        for (std::size_t c = 0; c < decision.classes.size() && c < decision.probabilities.size(); ++c)
            probabilities[decision.classes[c]] = rounded(decision.probabilities[c]);
        line["probabilities"] = probabilities;
    }
    line["faces"] = decision.faces;
    if (decision.track) {
        line["track"] = {{"id", decision.track->id},
                         {"title", decision.track->title},
                         {"artist", decision.track->artist},
                         {"genre", decision.track->genre},
                         {"path", decision.track->path}};
    } else {
        line["track"] = nullptr;
    }
    if (!decision.warnings.empty()) line["warnings"] = decision.warnings;
    if (!decision.source.available)
        line["source"] = {{"error", decision.source.error},
                          {"since", decision.source.since},
                          {"failed_attempts", decision.source.failed_attempts},
                          {"retry_seconds", rounded(decision.source.retry_seconds)}};
    // Replace rather than throw on a tag that is not valid UTF-8: one odd file must not stop the player.
    return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string shell_quote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string expand_play_command(const std::string& command, const std::string& path) {
    const std::string quoted = shell_quote(path);
    std::string expanded;
    bool replaced = false;
    for (std::size_t i = 0; i < command.size(); ++i) {
        if (command.compare(i, 2, "{}") == 0) {
            expanded += quoted;
            replaced = true;
            ++i;
        } else {
            expanded += command[i];
        }
    }
    return replaced ? expanded : expanded + " " + quoted;
}

int run_headless(Engine& engine, const HeadlessOptions& options, std::ostream& out, std::ostream& err) {
    using clock = std::chrono::steady_clock;
    for (int lines = 0;;) {
        Decision decision;
        try {
            decision = engine.look();
        } catch (const EndOfStream& end) {
            err << "fer-play: " << end.what() << "\n";
            return 0;
        }
        const auto looked_at = clock::now();
        out << decision_json_line(decision) << std::endl;
        for (const auto& warning : decision.warnings) err << "fer-play: warning: " << warning << "\n";
        // --once and --lines count looks at a face; while the source is away the run waits for it.
        const bool source_away = !decision.source.available;
        if (!source_away) ++lines;
        if (!source_away && (options.once || (options.max_lines > 0 && lines >= options.max_lines))) return 0;
        if (decision.track && !options.play_command.empty()) {
            const std::string command = expand_play_command(options.play_command, decision.track->path);
            const int status = std::system(command.c_str());
            if (status == -1) {
                err << "fer-play: warning: could not start the play command: " << command << "\n";
            } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                err << "fer-play: warning: the play command failed (status "
                    << (WIFEXITED(status) ? WEXITSTATUS(status) : status) << ") for " << decision.track->path << "\n";
            }
        } else {
            double wait = options.interval_seconds;
            if (wait < 0) wait = decision.track && options.track_seconds ? options.track_seconds(*decision.track) : 0;
            if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
        }
        // Looking again before the engine's retry pause is over would only print the same line again.
        if (source_away)
            std::this_thread::sleep_until(looked_at +
                                          std::chrono::duration_cast<clock::duration>(
                                              std::chrono::duration<double>(decision.source.retry_seconds)));
    }
}

}  // namespace fer::player
