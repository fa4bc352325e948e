// fer-play without a browser: look, print one JSON line per decision, play the track through an external
// command (or wait as long as it would play), look again. For scripts, kiosks and tests.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>

#include "fer/player/engine.hpp"

namespace fer::player {

struct HeadlessOptions {
    // Lines here count looks at the source; source_unavailable lines do not (the run waits for the source).
    bool once = false;  // stop after the first line
    int max_lines = 0;  // stop after this many lines; 0 = no limit (until the source ends)
    // Shell command playing a track, "{}" replaced by the quoted path (appended when absent); fer-play
    // waits for it to finish before looking again.
    std::string play_command;
    // Without a play command: seconds to wait between looks; < 0 means the track's length (from
    // track_seconds), or no wait when that is unknown.
    double interval_seconds = -1;
    std::function<double(const Track&)> track_seconds;
};

// {"time", "event", "emotion", "confidence", "probabilities": {class: p}, "faces", "track": {"id",
// "title", "artist", "genre", "path"} or null, "warnings": [...] (only when there are any), "source":
// {"error", "since", "failed_attempts", "retry_seconds"} (only for source_unavailable)}.
// no_face and source_unavailable lines have no emotion, confidence or probabilities.
std::string decision_json_line(const Decision& decision);

// 'it'\''s' style: safe inside a /bin/sh command line.
std::string shell_quote(const std::string& text);
// Every "{}" in command replaced by the quoted path; the quoted path appended when there is none.
std::string expand_play_command(const std::string& command, const std::string& path);

// Runs until once/max_lines or the end of a finite source (EndOfStream: a note on err, return 0). A play
// command that fails is reported on err and the loop goes on. After a source_unavailable line it looks
// again when the engine's retry pause is over (or after the track, if that is longer); other engine errors
// are thrown.
// Returns the process exit code.
int run_headless(Engine& engine, const HeadlessOptions& options, std::ostream& out, std::ostream& err);

}  // namespace fer::player
