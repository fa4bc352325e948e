// fer-train under the failures a long run meets: SIGKILL mid-epoch (the OOM killer, a power cut), a disk
// that fills up during the run, and an output that cannot be written at all. Drives the real binary, as
// a user's run would be, on a small synthetic dataset.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "fer/atomic_file.hpp"
#include "fer/binary_io.hpp"
#include "fer/checksum.hpp"
#include "fer/model_file.hpp"
#include "temp_dir.hpp"
#include "tiny_architecture.hpp"

namespace fer {
namespace {

using Clock = std::chrono::steady_clock;

// A tool started in the background with its output in a log file. Killed and reaped if a failed check
// leaves it running, so no test leaves a process behind.
class Child {
public:
    Child(const std::string& tool, const std::vector<std::string>& arguments, const std::string& log,
          rlim_t file_size_limit = RLIM_INFINITY) {
        const std::string program = std::string(FER_BINARY_DIR) + "/" + tool;
        std::vector<char*> argv{const_cast<char*>(program.c_str())};
        for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
        argv.push_back(nullptr);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {  // only async-signal-safe calls until exec
            int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) ::_exit(126);
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
            const rlimit limit{file_size_limit, file_size_limit};
            if (file_size_limit != RLIM_INFINITY && ::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
            ::execv(program.c_str(), argv.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    bool running() {
        if (pid_ <= 0) return false;
        if (::waitpid(pid_, &status_, WNOHANG) == 0) return true;
        pid_ = 0;
        return false;
    }
    // The wait status (see waitpid) once it has ended.
    int wait() {
        if (pid_ > 0) ::waitpid(pid_, &status_, 0);
        pid_ = 0;
        return status_;
    }
    int kill_and_wait() {
        if (pid_ > 0) ::kill(pid_, SIGKILL);
        return wait();
    }

private:
    pid_t pid_ = -1;
    int status_ = 0;
};

int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string last_line(const std::string& text) {
    std::size_t end = text.find_last_not_of('\n');
    if (end == std::string::npos) return "";
    std::size_t start = text.rfind('\n', end);
    start = start == std::string::npos ? 0 : start + 1;
    return text.substr(start, end + 1 - start);
}

// Where a checkpoint stands, in batches trained since the start of the run.
struct CheckpointPosition {
    std::uint64_t epoch = 0;       // 0-based epoch in progress
    std::uint64_t next_batch = 0;  // its first batch not yet trained
    std::uint64_t step = 0;        // optimizer steps so far
    std::uint64_t batches_done(std::uint64_t batches_per_epoch) const { return epoch * batches_per_epoch + next_batch; }
};

// Reads a checkpoint's position after checking that it is whole (magic and CRC-32: a half-written file
// fails both); nothing when there is no checkpoint. The layout is trainer.cpp's save_checkpoint.
std::optional<CheckpointPosition> read_checkpoint(const std::string& path) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    std::string text = read_file(path);
    std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    REQUIRE_MESSAGE(bytes.size() > 12, path);
    REQUIRE_MESSAGE(text.compare(0, 8, std::string("FERCKPT\0", 8)) == 0, path);
    ByteReader checksum(bytes.subspan(bytes.size() - 4), path);
    REQUIRE_MESSAGE(crc32(bytes.first(bytes.size() - 4)) == checksum.u32("checksum"), path);
    ByteReader reader(bytes, path);
    reader.raw(8, "magic");
    reader.u32("version");
    reader.string("fingerprint");
    CheckpointPosition position;
    position.epoch = reader.u64("epoch");
    position.next_batch = reader.u64("batch");
    position.step = reader.u64("step");
    return position;
}

// The checkpoint a fault must leave behind, whole.
CheckpointPosition require_checkpoint(const std::string& path) {
    std::optional<CheckpointPosition> position = read_checkpoint(path);
    REQUIRE_MESSAGE(position.has_value(), path << " is gone");
    return *position;
}

// How far the log's progress lines ("epoch E/N P% ...", one per batch when an epoch has at most ten
// batches) say the run got, in batches since the start of the run; `otherwise` when there are none.
std::uint64_t reported_batches(const std::string& log, std::uint64_t batches_per_epoch, std::uint64_t otherwise) {
    static const std::regex progress(R"(epoch (\d+)/\d+ +(\d+)% )");
    std::uint64_t done = otherwise;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        std::smatch match;
        if (!std::regex_search(line, match, progress)) continue;
        const std::uint64_t epoch = std::stoull(match[1]), percent = std::stoull(match[2]);
        for (std::uint64_t batch = 1; batch <= batches_per_epoch; ++batch)
            if (batch * 10 / batches_per_epoch * 10 == percent) {
                done = (epoch - 1) * batches_per_epoch + batch;
                break;
            }
    }
    return done;
}

std::vector<std::string> temp_files_in(const std::filesystem::path& folder) {
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        if (entry.path().filename().string().find(".tmp-") != std::string::npos)
            found.push_back(entry.path().filename().string());
    return found;
}

// The metrics log without its timing columns (seconds, images per second), which no two runs share.
std::string metrics_without_timing(const std::string& path) {
    std::string result;
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream cells(line);
        for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
        REQUIRE_MESSAGE(fields.size() == 9, path << ": " << line);
        for (std::size_t i = 0; i < 7; ++i) result += fields[i] + ",";
        result += "\n";
    }
    return result;
}

// What a fault may leave behind: the model absent (no epoch finished yet) or whole, the checkpoint whole.
void check_left_behind(const std::string& model, const std::string& checkpoint) {
    if (std::filesystem::exists(model)) CHECK_NOTHROW(load_model(model));
    require_checkpoint(checkpoint);
}

bool wait_for(const std::function<bool()>& condition, Child& child) {
    const auto deadline = Clock::now() + std::chrono::minutes(3);
    while (Clock::now() < deadline) {
        if (condition()) return true;
        if (!child.running()) return false;
        ::usleep(1000);
    }
    return false;
}

struct SyntheticRun {
    TempDir dir{"crash"};
    std::vector<std::string> arguments;  // all but --out and --resume
    std::uint64_t batches_per_epoch = 0;
    static constexpr int kEpochs = 8;

    SyntheticRun() {
        Child synth("fer-synth", {"--out", dir.file("data"), "--per-class", "16"}, dir.file("synth.log"));
        REQUIRE(exit_code(synth.wait()) == 0);
        write_file_atomically(dir.file("tiny.arch"), std::string(kTinyArchitecture));
        // A checkpoint after every batch: a kill then loses at most the batch in flight, and kills
        // land in checkpoint writes often enough to exercise the temp+rename path.
        arguments = {
            "--arch", dir.file("tiny.arch"), "--data", dir.file("data"), "--epochs", std::to_string(kEpochs), "--batch",
            "16",     "--threads",           "1",      "--seed",         "5",        "--checkpoint-every",    "0"};
        batches_per_epoch = 7;  // fer-synth --per-class 16: 7 classes x 16 training images, batches of 16
    }
    std::vector<std::string> with(std::initializer_list<std::string> more) const {
        std::vector<std::string> all = arguments;
        all.insert(all.end(), more);
        return all;
    }
};

}  // namespace

TEST_CASE("fer-train killed with SIGKILL mid-epoch and hit by a full disk resumes to the uninterrupted result") {
    SyntheticRun s;
    std::filesystem::create_directories(s.dir.file("reference"));
    std::filesystem::create_directories(s.dir.file("run"));
    const std::string model = s.dir.file("run/m.fer"), checkpoint = model + ".ckpt";

    Child reference("fer-train", s.with({"--out", s.dir.file("reference/m.fer")}), s.dir.file("reference.log"));
    REQUIRE_MESSAGE(exit_code(reference.wait()) == 0, read_file(s.dir.file("reference.log")));

    // Each interruption: start (or resume), wait until a checkpoint mid-epoch and at least two batches
    // past the start, then SIGKILL, or, once, shrink the file-size limit as a disk filling up would.
    enum class Fault { kill, disk_full };
    const Fault faults[] = {Fault::kill, Fault::kill, Fault::disk_full, Fault::kill};
    int mid_epoch_resumes = 0;
    std::size_t temp_files_seen = 0;
    for (std::size_t round = 0; round <= std::size(faults); ++round) {
        const std::string log_path = s.dir.file("run" + std::to_string(round) + ".log");
        std::optional<CheckpointPosition> start = read_checkpoint(checkpoint);
        std::vector<std::string> arguments = s.with({"--out", model});
        if (start) arguments.insert(arguments.end(), {"--resume", checkpoint});
        Child run("fer-train", arguments, log_path);
        const std::uint64_t started_at = start ? start->batches_done(s.batches_per_epoch) : 0;
        INFO("round " << round << ", started at batch " << started_at);

        // A resumed run starts exactly at the checkpoint left behind, which was mid-epoch.
        auto check_resumed_at_start = [&] {
            if (!start) return;
            if (start->next_batch > 0) ++mid_epoch_resumes;
            CHECK(read_file(log_path).find("resuming " + checkpoint + " at epoch " + std::to_string(start->epoch + 1) +
                                           ", batch " + std::to_string(start->next_batch + 1)) != std::string::npos);
        };
        if (round == std::size(faults)) {  // the last run finishes
            const int status = run.wait();
            INFO(read_file(log_path));
            REQUIRE(exit_code(status) == 0);
            check_resumed_at_start();
            break;
        }
        std::uint64_t seen = started_at;
        const bool reached = wait_for(
            [&] {
                std::optional<CheckpointPosition> now;
                if (std::filesystem::exists(checkpoint)) now = read_checkpoint(checkpoint);
                if (!now) return false;
                seen = now->batches_done(s.batches_per_epoch);
                return seen >= started_at + 2 && now->next_batch >= 2 && now->next_batch + 2 <= s.batches_per_epoch;
            },
            run);
        REQUIRE_MESSAGE(reached, "the run ended before it could be interrupted: " << read_file(log_path));

        if (faults[round] == Fault::kill) {
            const int status = run.kill_and_wait();
            REQUIRE(WIFSIGNALED(status));
            CHECK(WTERMSIG(status) == SIGKILL);
            check_left_behind(model, checkpoint);
            // The work lost is at most the batch in flight: the progress line comes before the checkpoint.
            const CheckpointPosition left = require_checkpoint(checkpoint);
            CHECK(left.step == left.batches_done(s.batches_per_epoch));  // one optimizer step per batch
            const std::uint64_t saved = left.batches_done(s.batches_per_epoch);
            const std::uint64_t reported = reported_batches(read_file(log_path), s.batches_per_epoch, started_at);
            CHECK(saved >= seen);
            CHECK(saved <= reported);
            CHECK(saved + 1 >= reported);
        } else {
            // The disk "fills up": every later write past 1 KiB fails with EFBIG, as ENOSPC would.
            const rlimit limit{1024, 1024};
            REQUIRE(::prlimit(run.pid(), RLIMIT_FSIZE, &limit, nullptr) == 0);
            const int status = run.wait();
            const std::string log = read_file(log_path);
            INFO(log);
            CHECK(exit_code(status) == 1);  // an error, not a death by SIGXFSZ
            const std::string reason = last_line(log);
            CHECK(reason.find("fer-train: error: ") == 0);
            CHECK(reason.find(s.dir.file("run/m.")) != std::string::npos);
            CHECK(reason.find("File too large") != std::string::npos);
            CHECK(reason.find("unchanged") != std::string::npos);
            check_left_behind(model, checkpoint);
            CHECK(require_checkpoint(checkpoint).batches_done(s.batches_per_epoch) >= seen);
            CHECK(temp_files_in(s.dir.file("run")).empty());  // the failed writer removed its temp file
        }
        temp_files_seen += temp_files_in(s.dir.file("run")).size();
        check_resumed_at_start();
    }
    MESSAGE("temp files left by kills mid-write (removed by the next run): " << temp_files_seen);
    // Each fault aims mid-epoch; a heavily loaded machine may let a run pass an epoch's end first.
    CHECK(mid_epoch_resumes >= 2);

    // The interrupted run ends where the uninterrupted one did: every epoch in its history, the same
    // numbers, and the same model, byte for byte.
    CHECK(load_model(model).metadata.extra.count("epoch") == 1);
    CHECK(metrics_without_timing(s.dir.file("run/m.metrics.csv")) ==
          metrics_without_timing(s.dir.file("reference/m.metrics.csv")));
    const std::string metrics = read_file(s.dir.file("run/m.metrics.csv"));
    CHECK(std::count(metrics.begin(), metrics.end(), '\n') == SyntheticRun::kEpochs + 1);
    CHECK(read_file(model) == read_file(s.dir.file("reference/m.fer")));
    CHECK(temp_files_in(s.dir.file("run")).empty());
}

}  // namespace fer

namespace fer {

TEST_CASE("fer-train stops before training when the output cannot be written or the disk cannot hold the run") {
    TempDir dir("nospace");
    Child synth("fer-synth", {"--out", dir.file("data"), "--per-class", "4"}, dir.file("synth.log"));
    REQUIRE(exit_code(synth.wait()) == 0);
    write_file_atomically(dir.file("tiny.arch"), std::string(kTinyArchitecture));
    write_file_atomically(dir.file("a-file"), std::string("not a folder"));
    std::filesystem::create_directories(dir.file("out"));
    auto train = [&](const std::string& out, rlim_t file_size_limit) {
        Child run("fer-train",
                  {"--arch", dir.file("tiny.arch"), "--data", dir.file("data"), "--epochs", "2", "--batch", "8",
                   "--threads", "1", "--out", out},
                  dir.file("train.log"), file_size_limit);
        return exit_code(run.wait());
    };

    SUBCASE("the output folder is a file") {
        CHECK(train(dir.file("a-file/m.fer"), RLIM_INFINITY) == 1);
        const std::string log = read_file(dir.file("train.log"));
        INFO(log);
        CHECK(last_line(log) ==
              "fer-train: error: " + dir.file("a-file/m.fer") + ": " + dir.file("a-file") + " is not a folder");
    }
    SUBCASE("the disk cannot hold the checkpoint (a 16 KiB file-size limit)") {
        // The tiny network's model (12 KiB) fits, its checkpoint (36 KiB) does not: without the reservation
        // the run would train a whole epoch before failing. Root ignores permissions, and a small disk needs
        // mount rights; a file-size limit fails fallocate as a full disk does, without either.
        CHECK(train(dir.file("out/m.fer"), 16 * 1024) == 1);
        const std::string log = read_file(dir.file("train.log"));
        INFO(log);
        CHECK(last_line(log).starts_with("fer-train: error: " + dir.file("out/m.fer")));
        CHECK(last_line(log).find("cannot reserve") != std::string::npos);
        CHECK(last_line(log).find("File too large") != std::string::npos);
        CHECK(log.find("epoch 1") == std::string::npos);    // before any training
        CHECK(std::filesystem::is_empty(dir.file("out")));  // no probe or temp file left
    }
}

TEST_CASE("remove_orphaned_temp_files removes what killed writers left, nothing else") {
    TempDir dir("orphans");
    pid_t gone = ::fork();
    REQUIRE(gone >= 0);
    if (gone == 0) ::_exit(0);
    REQUIRE(::waitpid(gone, nullptr, 0) == gone);
    const std::string mine = std::to_string(::getpid()), dead = std::to_string(gone);
    const std::vector<std::string> kept = {"m.fer",
                                           "m.fer.tmp-" + mine + "-a1B2c3",  // a live writer's
                                           "m.fer.tmp-" + dead + "-a1B2c",   // not our pattern
                                           "m.fer.tmp-x" + dead + "-a1B2c3", "notes.tmp-" + dead};
    const std::vector<std::string> removed = {"m.fer.tmp-" + dead + "-a1B2c3", "m.metrics.csv.tmp-" + dead + "-zzzzzz"};
    for (const auto& name : kept) write_file_atomically(dir.file(name), std::string("x"));
    for (const auto& name : removed) write_file_atomically(dir.file(name), std::string("x"));

    CHECK(remove_orphaned_temp_files(dir.file("m.fer")) == removed.size());
    for (const auto& name : kept) CHECK_MESSAGE(std::filesystem::exists(dir.file(name)), name);
    for (const auto& name : removed) CHECK_MESSAGE(!std::filesystem::exists(dir.file(name)), name);
}

TEST_CASE("check_writable names the path and the reason") {
    TempDir dir("writable");
    write_file_atomically(dir.file("a-file"), std::string("x"));
    CHECK_THROWS_WITH(check_writable(dir.file("missing/m.fer")), doctest::Contains("does not exist"));
    CHECK_THROWS_WITH(check_writable(dir.file("a-file/m.fer")), doctest::Contains("is not a folder"));
    const PlannedFile two[] = {{dir.file("m.fer"), 1 << 20}, {dir.file("m.fer.ckpt"), 3 << 20}};
    CHECK_NOTHROW(check_writable(two));
    CHECK(std::filesystem::is_directory(dir.path));
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path), {}) == 1);  // only a-file: probes removed
}

}  // namespace fer
