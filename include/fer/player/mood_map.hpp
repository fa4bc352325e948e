// Which music suits which emotion: a plain-text map from each emotion to genres (data/mood-map.conf,
// format in docs/player.md), and the picker that draws a random track of those genres.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fer/player/engine.hpp"
#include "fer/rng.hpp"

namespace fer::player {

// FER2013's label order, the emotions a mood map may name unless told otherwise.
inline const std::vector<std::string>& fer2013_emotions() {
    static const std::vector<std::string> names = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
    return names;
}

class MoodMap {
public:
    // Lines "emotion = genre, genre, ..."; '#' starts a comment; blank lines are ignored; names are
    // case-insensitive (stored lower-case). Errors are std::runtime_error "SOURCE:LINE: reason": no '=',
    // an emotion not in emotions, an emotion given twice, an empty genre.
    static MoodMap parse(const std::string& text, const std::string& source,
                         const std::vector<std::string>& emotions = fer2013_emotions());
    // Reads the file (error naming it when it cannot be read) and parses it.
    static MoodMap load(const std::string& path, const std::vector<std::string>& emotions = fer2013_emotions());

    // Lower-case genres for the emotion; empty when the map does not name it.
    const std::vector<std::string>& genres(const std::string& emotion) const;
    const std::map<std::string, std::vector<std::string>>& entries() const { return genres_; }

private:
    std::map<std::string, std::vector<std::string>> genres_;
};

struct TrackChoice {
    std::optional<std::size_t> id;      // none only for an empty track list
    std::string mood;                   // whose genres the track came from (differs after a fallback)
    std::vector<std::string> warnings;  // the fallback taken, if any
};

// Draws tracks for an emotion. Fallback order when the emotion's genres have no track: the genres of
// 'neutral', then any track in the library; each fallback adds a warning. Never repeats the previous
// pick when another candidate exists. Deterministic for a given seed.
class TrackPicker {
public:
    TrackPicker(const std::vector<Track>& tracks, MoodMap map, std::uint64_t seed);

    TrackChoice pick(const std::string& emotion);
    // Ids of the tracks whose genre (case-insensitive) is mapped to emotion, ascending.
    std::vector<std::size_t> candidates(const std::string& emotion) const;
    const MoodMap& map() const { return map_; }

private:
    std::vector<std::string> genres_;  // per track id, lower-case
    MoodMap map_;
    Rng rng_;
    std::optional<std::size_t> previous_;
};

}  // namespace fer::player
