// The player's engine as the web server and the headless runner see it: the music library, and
// "look": capture faces, decide the emotion (the paper's steps 4-5), pick a song of that mood.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fer::player {

struct Track {
    std::size_t id = 0;  // index in the scanned library (sorted by path); the only handle a client gets
    std::string title, artist, genre;
    std::string path;    // never sent to clients
};

// Whether the frame source (camera, video, image folder) delivers. A source that fails mid-run is retried
// with a growing pause between attempts instead of stopping the player.
struct SourceStatus {
    bool available = true;
    std::string error;         // why not, naming the device or file; empty while available
    std::string since;         // ISO 8601 UTC start of the look that found the source failing
    int failed_attempts = 0;   // attempts to get frames since then
    double retry_seconds = 0;  // until the next attempt (0 when it is due)
};

struct Decision {
    std::string time;    // ISO 8601 UTC, e.g. "2026-11-24T21:41:29Z"
    // "decision"; "no_face" when no face was seen before the timeout; "source_unavailable" when the frame
    // source failed (then source says why and when it is tried again, and the track continues the mood)
    std::string event;
    std::string emotion;                  // empty for no_face
    double confidence = 0;                // probability of the chosen emotion
    std::vector<std::string> classes;     // the model's class names
    std::vector<float> probabilities;     // averaged over the faces, indexed like classes
    int faces = 0;                        // face frames used
    std::vector<std::uint8_t> face_png;   // the last face crop as the model saw it (PNG), may be empty
    std::optional<Track> track;           // the song chosen for the emotion (none when nothing fits)
    std::vector<std::string> warnings;    // e.g. "no track for 'disgust'; playing from 'sad'"
    SourceStatus source;                  // not available only for source_unavailable
};

// Implementations are safe to call from several threads at once (look() calls are serialised).
class Engine {
public:
    virtual ~Engine() = default;
    virtual const std::vector<Track>& tracks() const = 0;
    // Blocks until a decision: up to N face frames, or the timeout (then event = "no_face" and the
    // track, if any, continues the current mood).
    virtual Decision look() = 0;
    // For the page's state; an engine whose source cannot fail keeps the default.
    virtual SourceStatus source_status() const { return {}; }
};

}  // namespace fer::player
