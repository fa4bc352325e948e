// Fuzz target: the player's mood map (data/mood-map.conf), through MoodMap::parse (what MoodMap::load
// runs on the file's text), then a TrackPicker over a small library with the parsed map. Documented
// outcome: a map of known emotions to non-empty lower-case genres, or std::runtime_error "SOURCE:LINE: ..."
// naming the source; a picker that always picks an existing track.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fer/player/mood_map.hpp"
#include "fuzz_support.hpp"

namespace {

const std::string source_name = "fuzz.conf";

std::vector<fer::player::Track> small_library() {
    std::vector<fer::player::Track> tracks;
    for (const char* genre : {"pop", "Sad", " rock ", "jazz", "pop"})
        tracks.push_back(fer::player::Track{tracks.size(), "title", "artist", genre, "/nonexistent.wav"});
    return tracks;
}

bool is_lower_case(const std::string& text) {
    for (char c : text)
        if (std::tolower(static_cast<unsigned char>(c)) != static_cast<unsigned char>(c)) return false;
    return true;
}

void check_map(const fer::player::MoodMap& map) {
    const auto& known = fer::player::fer2013_emotions();
    for (const auto& [emotion, genres] : map.entries()) {
        if (std::find(known.begin(), known.end(), emotion) == known.end())
            fer::fuzz::report_finding("the map names an unknown emotion '" + emotion + "'");
        if (genres.empty()) fer::fuzz::report_finding("'" + emotion + "' has no genres");
        for (const std::string& genre : genres)
            if (genre.empty() || !is_lower_case(genre))
                fer::fuzz::report_finding("'" + emotion + "' has the genre '" + genre + "'");
    }
}

void check_picks(fer::player::MoodMap map) {
    const std::vector<fer::player::Track> tracks = small_library();
    fer::player::TrackPicker picker(tracks, std::move(map), 7);
    for (const std::string& emotion : fer::player::fer2013_emotions()) {
        const std::vector<std::size_t> candidates = picker.candidates(emotion);
        if (!std::is_sorted(candidates.begin(), candidates.end()))
            fer::fuzz::report_finding("candidates for '" + emotion + "' are not ascending");
        std::optional<std::size_t> previous;
        for (int round = 0; round < 2; ++round) {
            const fer::player::TrackChoice choice = picker.pick(emotion);
            if (!choice.id || *choice.id >= tracks.size())
                fer::fuzz::report_finding("pick('" + emotion + "') chose no existing track");
            if (candidates.size() > 1 && previous && *previous == *choice.id)
                fer::fuzz::report_finding("pick('" + emotion + "') repeated track " + std::to_string(*choice.id));
            previous = choice.id;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::optional<fer::player::MoodMap> map;
    fer::fuzz::succeeds_or_throws<std::runtime_error>("MoodMap::parse", [&] {
        try {
            map = fer::player::MoodMap::parse(fer::fuzz::as_string(data, size), source_name);
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()).rfind(source_name + ":", 0) != 0)
                fer::fuzz::report_finding("error does not name the source: " + std::string(e.what()));
            throw;
        }
    });
    if (!map) return 0;
    check_map(*map);
    fer::fuzz::must_not_throw("TrackPicker", [&] { check_picks(std::move(*map)); });
    return 0;
}
