#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "fer/player/mood_map.hpp"
#include "player_test_support.hpp"
#include "temp_dir.hpp"

using namespace fer::player;
using fer::player::testing::error_message;

namespace {

std::vector<Track> tracks_with_genres(const std::vector<std::string>& genres) {
    std::vector<Track> tracks;
    for (std::size_t i = 0; i < genres.size(); ++i) {
        Track track;
        track.id = i;
        track.genre = genres[i];
        track.title = "t" + std::to_string(i);
        tracks.push_back(track);
    }
    return tracks;
}

std::string parse_error(const std::string& text) {
    return error_message([&] { MoodMap::parse(text, "moods.conf"); });
}

}  // namespace

TEST_CASE("mood maps: comments, blank lines, case and spacing") {
    const MoodMap map = MoodMap::parse(
        "# a comment\n\n  Happy = Pop,  dance ,upbeat  # trailing comment\nsad=blues\r\nNEUTRAL = jazz, jazz\n",
        "moods.conf");
    CHECK(map.genres("happy") == std::vector<std::string>{"pop", "dance", "upbeat"});
    CHECK(map.genres("HAPPY") == std::vector<std::string>{"pop", "dance", "upbeat"});
    CHECK(map.genres("sad") == std::vector<std::string>{"blues"});
    CHECK(map.genres("neutral") == std::vector<std::string>{"jazz"});
    CHECK(map.genres("angry").empty());
    CHECK(map.entries().size() == 3);
}

TEST_CASE("the shipped data/mood-map.conf maps all seven emotions") {
    const MoodMap map = MoodMap::load(fer::player::testing::source_path("data/mood-map.conf"));
    for (const auto& emotion : fer2013_emotions()) CHECK_MESSAGE(!map.genres(emotion).empty(), emotion);
}

TEST_CASE("mood map errors name the file and the line") {
    CHECK(parse_error("# ok\nhappy pop\n") == "moods.conf:2: expected 'emotion = genre, genre, ...', got 'happy pop'");
    CHECK(parse_error("hapy = pop\n") ==
          "moods.conf:1: unknown emotion 'hapy' (known: angry, disgust, fear, happy, sad, surprise, neutral)");
    CHECK(parse_error("happy = pop\n\nhappy = rock\n") == "moods.conf:3: 'happy' is already mapped on line 1");
    CHECK(parse_error("sad = blues,, jazz\n") == "moods.conf:1: empty genre in the list for 'sad'");
    CHECK(parse_error("sad = blues,\n") == "moods.conf:1: empty genre in the list for 'sad'");
    CHECK(parse_error("sad =   # nothing\n") == "moods.conf:1: empty genre in the list for 'sad'");
    CHECK(parse_error(" = pop\n") == "moods.conf:1: no emotion before '='");
    CHECK(error_message([] { MoodMap::parse("calm = pop\n", "x.conf", {"calm"}); }) == "(no exception)");
    CHECK(error_message([] { MoodMap::load("/nonexistent/moods.conf"); }) ==
          "mood map /nonexistent/moods.conf: cannot be read");
}

TEST_CASE("the picker draws from the emotion's genres, case-insensitively, never twice in a row") {
    const MoodMap map = MoodMap::parse("happy = pop, dance\nsad = blues\nneutral = jazz\n", "m");
    const auto tracks = tracks_with_genres({"Pop", "blues", "DANCE", "jazz", "pop", "rock"});
    TrackPicker picker(tracks, map, 42);
    CHECK(picker.candidates("happy") == std::vector<std::size_t>{0, 2, 4});
    std::set<std::size_t> seen;
    std::optional<std::size_t> previous;
    for (int i = 0; i < 200; ++i) {
        const TrackChoice choice = picker.pick("happy");
        REQUIRE(choice.id);
        CHECK(choice.mood == "happy");
        CHECK(choice.warnings.empty());
        CHECK(picker.candidates("happy") == std::vector<std::size_t>{0, 2, 4});
        CHECK(std::set<std::size_t>{0, 2, 4}.count(*choice.id) == 1);
        CHECK(choice.id != previous);
        previous = choice.id;
        seen.insert(*choice.id);
    }
    CHECK(seen.size() == 3);
    SUBCASE("a single candidate may repeat") {
        CHECK(*picker.pick("sad").id == 1);
        CHECK(*picker.pick("sad").id == 1);
    }
    SUBCASE("the same seed gives the same picks") {
        TrackPicker a(tracks, map, 7), b(tracks, map, 7);
        for (int i = 0; i < 20; ++i) CHECK(a.pick("happy").id == b.pick("happy").id);
    }
}

TEST_CASE("the picker falls back to neutral, then to any track, and says so") {
    const MoodMap map = MoodMap::parse("happy = pop\nneutral = jazz\nangry = metal\n", "m");
    SUBCASE("to neutral") {
        TrackPicker picker(tracks_with_genres({"pop", "jazz"}), map, 1);
        const TrackChoice choice = picker.pick("angry");
        CHECK(choice.id == std::optional<std::size_t>(1));
        CHECK(choice.mood == "neutral");
        CHECK(choice.warnings == std::vector<std::string>{"no track for 'angry'; playing from 'neutral'"});
        const TrackChoice unmapped = picker.pick("disgust");
        CHECK(unmapped.mood == "neutral");
    }
    SUBCASE("to any track") {
        TrackPicker picker(tracks_with_genres({"pop", "rock"}), map, 1);
        const TrackChoice choice = picker.pick("angry");
        REQUIRE(choice.id);
        CHECK(choice.mood == "any");
        CHECK(choice.warnings == std::vector<std::string>{"no track for 'angry'; playing any track"});
        CHECK(picker.pick("neutral").warnings == std::vector<std::string>{"no track for 'neutral'; playing any track"});
    }
    SUBCASE("no tracks at all") {
        TrackPicker picker({}, map, 1);
        CHECK(!picker.pick("happy").id);
    }
}
