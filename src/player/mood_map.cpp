#include "fer/player/mood_map.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "fer/text.hpp"

namespace fer::player {
namespace {

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

}  // namespace

MoodMap MoodMap::parse(const std::string& text, const std::string& source, const std::vector<std::string>& emotions) {
    MoodMap map;
    std::map<std::string, int> first_line;
    std::istringstream lines(text);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
        const std::string where = source + ":" + std::to_string(number) + ": ";
        line = std::string(trim(line.substr(0, line.find('#'))));
        if (line.empty()) continue;
        const auto equals = line.find('=');
        if (equals == std::string::npos)
            throw std::runtime_error(where + "expected 'emotion = genre, genre, ...', got '" + line + "'");
        const std::string emotion = to_lower(std::string(trim(line.substr(0, equals))));
        if (emotion.empty()) throw std::runtime_error(where + "no emotion before '='");
        if (std::find(emotions.begin(), emotions.end(), emotion) == emotions.end())
            throw std::runtime_error(where + "unknown emotion '" + emotion + "' (known: " + join(emotions) + ")");
        if (auto seen = first_line.find(emotion); seen != first_line.end())
            throw std::runtime_error(where + "'" + emotion + "' is already mapped on line " +
                                     std::to_string(seen->second));
        first_line[emotion] = number;
        std::vector<std::string> genres;
        std::istringstream items(line.substr(equals + 1));
        std::string item;
        while (std::getline(items, item, ',')) {
            item = to_lower(std::string(trim(item)));
            if (item.empty()) throw std::runtime_error(where + "empty genre in the list for '" + emotion + "'");
            if (std::find(genres.begin(), genres.end(), item) == genres.end()) genres.push_back(item);
        }
        // getline yields nothing for "happy =" and drops a trailing empty item ("pop,"): catch both.
        const std::string list = std::string(trim(line.substr(equals + 1)));
        if (genres.empty() || list.back() == ',')
            throw std::runtime_error(where + "empty genre in the list for '" + emotion + "'");
        map.genres_[emotion] = std::move(genres);
    }
    return map;
}

MoodMap MoodMap::load(const std::string& path, const std::vector<std::string>& emotions) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("mood map " + path + ": cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    return parse(text.str(), path, emotions);
}

const std::vector<std::string>& MoodMap::genres(const std::string& emotion) const {
    static const std::vector<std::string> none;
    auto it = genres_.find(to_lower(emotion));
    return it == genres_.end() ? none : it->second;
}

TrackPicker::TrackPicker(const std::vector<Track>& tracks, MoodMap map, std::uint64_t seed)
    : map_(std::move(map)), rng_(seed) {
    genres_.reserve(tracks.size());
    for (const Track& track : tracks) genres_.push_back(to_lower(std::string(trim(track.genre))));
}

std::vector<std::size_t> TrackPicker::candidates(const std::string& emotion) const {
    const std::vector<std::string>& wanted = map_.genres(emotion);
    std::vector<std::size_t> ids;
    for (std::size_t id = 0; id < genres_.size(); ++id)
        if (std::find(wanted.begin(), wanted.end(), genres_[id]) != wanted.end()) ids.push_back(id);
    return ids;
}

TrackChoice TrackPicker::pick(const std::string& emotion) {
    TrackChoice choice;
    choice.mood = to_lower(emotion);
    std::vector<std::size_t> pool = candidates(choice.mood);
    if (pool.empty() && choice.mood != "neutral") {
        pool = candidates("neutral");
        if (!pool.empty()) {
            choice.warnings.push_back("no track for '" + choice.mood + "'; playing from 'neutral'");
            choice.mood = "neutral";
        }
    }
    if (pool.empty()) {
        if (genres_.empty()) return choice;
        choice.warnings.push_back("no track for '" + choice.mood + "'; playing any track");
        choice.mood = "any";
        pool.resize(genres_.size());
        for (std::size_t id = 0; id < pool.size(); ++id) pool[id] = id;
    }
    if (pool.size() > 1 && previous_) std::erase(pool, *previous_);
    choice.id = pool[rng_.below(pool.size())];
    previous_ = choice.id;
    return choice;
}

}  // namespace fer::player
