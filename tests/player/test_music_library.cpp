#include <doctest/doctest.h>
#include <wavfile.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fer/player/music_library.hpp"
#include "player_test_support.hpp"
#include "temp_dir.hpp"

using namespace fer::player;
using fer::player::testing::error_message;
using fer::player::testing::write_test_wav;
namespace fs = std::filesystem;

TEST_CASE("audio files are recognised by extension, case-insensitively") {
    for (const char* name : {"a.mp3", "a.OGG", "a.opus", "a.Flac", "a.wav", "a.m4a"})
        CHECK_MESSAGE(is_audio_file(name), name);
    for (const char* name : {"a.txt", "a.mp4", "mp3", "a.wav.bak"}) CHECK_MESSAGE(!is_audio_file(name), name);
}

TEST_CASE("scanning: sorted by path, genre and title from tags else folder and file name, broken files skipped") {
    fer::TempDir dir;
    fs::create_directories(dir.path / "pop");
    fs::create_directories(dir.path / "jazz" / "live");
    write_test_wav(dir.file("pop/b-song.wav"));
    write_test_wav(dir.file("pop/A-SONG.WAV"));
    write_test_wav(dir.file("jazz/live/set.wav"), 1.5);
    {
        // Tagged: its genre and title win over the folder and the file name.
        write_test_wav(dir.file("jazz/tagged.wav"));
        TagLib::RIFF::WAV::File file(dir.file("jazz/tagged.wav").c_str());
        REQUIRE(file.isValid());
        file.InfoTag()->setGenre("Rock");
        file.InfoTag()->setTitle("Real Title");
        file.InfoTag()->setArtist("Someone");
        REQUIRE(file.save());
    }
    std::ofstream(dir.file("pop/broken.mp3")) << "not audio at all";
    std::ofstream(dir.file("pop/empty.flac"));
    std::ofstream(dir.file("pop/notes.txt")) << "ignored";

    const MusicLibrary library = MusicLibrary::scan(dir.path.string());
    const auto& tracks = library.tracks();
    REQUIRE(tracks.size() == 4);
    CHECK(tracks[0].path == dir.file("jazz/live/set.wav"));
    CHECK(tracks[1].path == dir.file("jazz/tagged.wav"));
    CHECK(tracks[2].path == dir.file("pop/A-SONG.WAV"));
    CHECK(tracks[3].path == dir.file("pop/b-song.wav"));
    for (std::size_t i = 0; i < tracks.size(); ++i) CHECK(tracks[i].id == i);
    CHECK(tracks[0].genre == "live");
    CHECK(tracks[0].title == "set");
    CHECK(tracks[1].genre == "Rock");
    CHECK(tracks[1].title == "Real Title");
    CHECK(tracks[1].artist == "Someone");
    CHECK(tracks[2].genre == "pop");
    CHECK(tracks[2].title == "A-SONG");
    CHECK(library.seconds(0) == doctest::Approx(1.5).epsilon(0.01));
    REQUIRE(library.warnings().size() == 2);
    CHECK(library.warnings()[0] == dir.file("pop/broken.mp3") + ": not a readable audio file; skipped");
    CHECK(library.warnings()[1] == dir.file("pop/empty.flac") + ": not a readable audio file; skipped");
}

TEST_CASE("the demo music has tracks for the shipped mood map's genres") {
    const MusicLibrary library = MusicLibrary::scan(fer::player::testing::demo_music());
    CHECK(library.tracks().size() == 10);
    CHECK(library.warnings().empty());
    CHECK(library.tracks()[0].artist == "fer demo");
    for (const auto& track : library.tracks()) CHECK(library.seconds(track.id) > 2.0);
}

TEST_CASE("a missing, empty or unplayable music folder is an error naming it") {
    CHECK(error_message([] { MusicLibrary::scan("/nonexistent/music"); }) ==
          "music folder /nonexistent/music: no such folder");
    fer::TempDir dir;
    const std::string root = dir.path.string();
    CHECK(error_message([&] { MusicLibrary::scan(root); }) ==
          "music folder " + root + ": no playable mp3/ogg/opus/flac/wav/m4a files");
    std::ofstream(dir.file("broken.ogg")) << "junk";
    CHECK(error_message([&] { MusicLibrary::scan(root); }) ==
          "music folder " + root + ": no playable mp3/ogg/opus/flac/wav/m4a files (1 unreadable)");
    CHECK(error_message([&] { MusicLibrary::scan(dir.file("broken.ogg")); }) ==
          "music folder " + dir.file("broken.ogg") + ": not a folder");
}

TEST_CASE("links to files outside the music folder are skipped, so the web server cannot be made to send them") {
    fer::TempDir dir;
    const fs::path root = dir.path / "music", outside = dir.path / "elsewhere";
    fs::create_directories(root / "pop");
    fs::create_directories(outside / "more");
    write_test_wav((root / "pop" / "inside.wav").string());
    write_test_wav((outside / "secret.wav").string());
    write_test_wav((outside / "more" / "deep.wav").string());
    fs::create_symlink(outside / "secret.wav", root / "pop" / "escape.wav");
    fs::create_symlink(root / "pop" / "inside.wav", root / "alias.wav");  // a link within the folder is fine
    fs::create_directory_symlink(outside / "more", root / "linked-folder");
    fs::create_symlink(dir.path / "missing.wav", root / "dangling.wav");

    const MusicLibrary library = MusicLibrary::scan(root.string());
    REQUIRE(library.tracks().size() == 2);
    CHECK(library.tracks()[0].path == (root / "alias.wav").string());
    CHECK(library.tracks()[1].path == (root / "pop" / "inside.wav").string());
    REQUIRE(library.warnings().size() == 1);
    CHECK(library.warnings()[0] == (root / "pop" / "escape.wav").string() + ": links outside the music folder (to " +
                                       fs::canonical(outside / "secret.wav").string() + "); skipped");

    // The folder itself may be a link: what counts is where it leads.
    fs::create_directory_symlink(root, dir.path / "music-link");
    CHECK(MusicLibrary::scan((dir.path / "music-link").string()).tracks().size() == 2);
}
