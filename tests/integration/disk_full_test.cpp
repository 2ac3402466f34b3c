// A full disk, for real: the data directory sits on a small tmpfs, a server stores runs
// until the disk is full, and then:
//   - a write that does not fit is answered 507 `insufficient_storage`, "disk full";
//   - once space is freed, writes resume on their own (no restart);
//   - every run acknowledged before, during and after is still there;
//   - the write-ahead log is truncated to its documented bound (docs/storage.md) after
//     checkpoints, rather than keeping its peak size.
// Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped, saying why.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>

#include "integration/harness.h"
#include "storage/sqlite/sqlite_storage.h"

namespace taskmill::testing {
namespace {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// Room enough for the log to outgrow its 4 MiB bound before its first checkpoint, so
// that its truncation afterwards is seen. The space freed later must hold what the log
// has to copy into the database before it can be started over: at most the log, which
// the early checkpoint keeps below the room left (docs/storage.md).
constexpr int64_t kDiskBytes = int64_t{24} << 20;    // the tmpfs
constexpr int64_t kBallastBytes = int64_t{8} << 20;  // freed to let writes resume

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
};

// One HTTP/1.1 request on a connection of its own, read to the end: the test sees the
// status line as any client does.
HttpAnswer Http(const std::string& url, const std::string& method, const std::string& path,
                const std::string& body = {}) {
  HttpAnswer answer;
  const std::string prefix = "http://127.0.0.1:";
  if (!url.starts_with(prefix)) return answer;
  const int port = std::stoi(url.substr(prefix.size()));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return answer;
  timeval timeout{30, 0};  // a server that stopped answering fails the test, not hangs it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return answer;
  }
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Connection: close\r\nContent-Type: application/json\r\n" +
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return answer;
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[65536];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;)
    response.append(buf, static_cast<size_t>(n));
  close(fd);
  // "HTTP/1.1 507 Insufficient Storage\r\n...\r\n\r\nbody" (Connection: close, so the
  // body is the rest; the server does not chunk these answers).
  if (response.size() < 12 || !response.starts_with("HTTP/1.1 ")) return answer;
  answer.status = std::stoi(response.substr(9, 3));
  if (auto at = response.find("\r\n\r\n"); at != std::string::npos)
    answer.body = response.substr(at + 4);
  return answer;
}

int64_t FileSize(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to mount a 24 MiB tmpfs for the data directory; run the "
                      "integration tests as root to test a full disk";
    }
    mount_point_ = dir_.path() / "disk";
    std::filesystem::create_directories(mount_point_);
    const std::string options = "size=" + std::to_string(kDiskBytes);
    if (mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs at " << mount_point_ << " (" << std::strerror(errno)
                   << "): this test needs CAP_SYS_ADMIN to fill a small disk";
    }
    mounted_ = true;
  }

  // Runs after a failed assertion too: the server goes first (it holds files there),
  // then the tmpfs, detached should anything still hold it.
  void TearDown() override {
    server_.reset();
    if (mounted_ && umount2(mount_point_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "cannot unmount " << mount_point_ << ": " << std::strerror(errno);
    }
  }

  // A batch of `count` runs delayed an hour (so they stay pending and unchanged), each
  // with `payload` bytes of arguments.
  static std::string Batch(int count, size_t payload) {
    json::array runs;
    for (int i = 0; i < count; ++i) {
      runs.push_back(json::object{{"function", "demo.echo"},
                                  {"args", json::array{std::string(payload, 'x')}},
                                  {"delay", 3600}});
    }
    return json::serialize(json::object{{"runs", runs}});
  }

  static void Acknowledge(const HttpAnswer& answer, std::set<std::string>& ids) {
    auto v = json::parse(answer.body);
    for (const auto& run : v.at("runs").as_array())
      ids.insert(std::string(run.at("id").as_string()));
  }

  TempDir dir_;
  std::filesystem::path mount_point_;
  bool mounted_ = false;
  std::unique_ptr<Server> server_;
};

TEST_F(DiskFullTest, AFullDiskAnswers507KeepsWhatWasAcknowledgedAndResumesWhenSpaceReturns) {
  const auto data = mount_point_ / "data";
  const auto log_file = data / "taskmill.db-wal";
  const int64_t log_bound = sqlite::SqliteOptions{}.log_size_limit;  // docs/storage.md: 4 MiB
  // Space that freeing it gives back later.
  {
    std::ofstream ballast(mount_point_ / "ballast", std::ios::binary);
    std::string block(1 << 16, 'b');
    for (int64_t written = 0; written < kBallastBytes;
         written += static_cast<int64_t>(block.size())) {
      ballast.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
    ASSERT_TRUE(ballast.good()) << "cannot write the ballast file";
  }
  server_ = std::make_unique<Server>(data);
  ASSERT_TRUE(server_->started()) << server_->startup_output();
  const std::string url = server_->url();

  // 1. Store runs until the disk is full.
  std::set<std::string> acknowledged;
  HttpAnswer full;
  int64_t log_peak = 0;
  const auto fill_deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < fill_deadline) {
    HttpAnswer answer = Http(url, "POST", "/api/v1/runs:batch?return=ids", Batch(50, 2000));
    log_peak = std::max(log_peak, FileSize(log_file));
    if (answer.status == 201) {
      Acknowledge(answer, acknowledged);
      continue;
    }
    full = answer;
    break;
  }
  ASSERT_EQ(full.status, 507) << "a write that does not fit should answer 507, got " << full.status
                              << ": " << full.body << " after " << acknowledged.size() << " runs";
  auto error = json::parse(full.body).at("error");
  EXPECT_EQ(error.at("code").as_string(), "insufficient_storage");
  EXPECT_NE(std::string(error.at("message").as_string()).find("disk full"), std::string::npos)
      << error;
  ASSERT_GT(acknowledged.size(), 0u);
  ASSERT_GT(log_peak, log_bound) << "the log should have outgrown its bound before a checkpoint "
                                    "(else its truncation is not tested)";
  // The server is still up, and reads still work on a full disk.
  EXPECT_EQ(Http(url, "GET", "/healthz").status, 200);

  // 2. Free space: writes resume on their own.
  std::filesystem::remove(mount_point_ / "ballast");
  const std::string small = Batch(5, 100);
  HttpAnswer resumed;
  const auto resume_deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < resume_deadline) {
    resumed = Http(url, "POST", "/api/v1/runs:batch?return=ids", small);
    if (resumed.status != 507) break;
  }
  ASSERT_EQ(resumed.status, 201) << resumed.body;
  Acknowledge(resumed, acknowledged);

  // 3. The log is truncated to its bound after checkpoints: keep writing small batches
  // until a checkpoint has let the writer start the log over.
  const auto truncate_deadline = Clock::now() + std::chrono::seconds(30);
  int64_t log_size = FileSize(log_file);
  while (log_size > log_bound && Clock::now() < truncate_deadline) {
    HttpAnswer more = Http(url, "POST", "/api/v1/runs:batch?return=ids", small);
    if (more.status == 201) Acknowledge(more, acknowledged);
    log_size = FileSize(log_file);
  }
  EXPECT_LE(log_size, log_bound) << "the write-ahead log (peak " << log_peak
                                 << " bytes) should be truncated after a checkpoint";
  // ... and does not grow back towards its peak while writes go on after the disk
  // recovered. Between checkpoints the log holds the commits since it last started
  // over (docs/storage.md), and a reader's snapshot can delay a start over, so a few
  // small batches may carry it a little past the bound; 1 MiB is far more than they
  // write, and far less than the peak.
  const int64_t after_recovery_bound = log_bound + (int64_t{1} << 20);
  for (int i = 0; i < 20; ++i) {
    HttpAnswer more = Http(url, "POST", "/api/v1/runs:batch?return=ids", small);
    ASSERT_EQ(more.status, 201) << more.body;
    Acknowledge(more, acknowledged);
    EXPECT_LE(FileSize(log_file), after_recovery_bound);
  }

  // 4. Nothing acknowledged was lost: every run answered 201 is stored.
  int missing = 0;
  for (const auto& id : acknowledged) {
    HttpAnswer run = Http(url, "GET", "/api/v1/runs/" + id);
    if (run.status != 200) ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << acknowledged.size() << " acknowledged runs";
  std::cout << "runs stored: " << acknowledged.size() << "; write-ahead log peak " << log_peak
            << " bytes, " << FileSize(log_file) << " bytes at the end (bound " << log_bound
            << ")\n";
}

}  // namespace
}  // namespace taskmill::testing
