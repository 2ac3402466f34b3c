#include "bulk/checkpointer.h"

#include <boost/json.hpp>

namespace taskmill::bulk {
namespace json = boost::json;

namespace {
constexpr int kStateVersion = 1;

Status Corrupt(std::string_view what) {
  return Status::Internal("stored bulk checkpoint is unreadable: " + std::string(what));
}
}  // namespace

std::string CheckpointState::Encode() const {
  json::object o;
  o["v"] = kStateVersion;
  o["phase"] = phase;
  o["rows"] = rows;
  o["succeeded"] = succeeded;
  o["failed"] = failed;
  o["written"] = written;
  o["output_file"] = output_file;
  o["chunks"] = chunks;
  o["seen"] = seen;
  o["state"] = state;
  if (!status.empty()) o["status"] = status;
  if (!error.empty()) o["error"] = error;
  if (!attached.empty()) o["attached"] = attached;
  return json::serialize(o);
}

Result<CheckpointState> CheckpointState::Decode(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Corrupt("not a JSON object");
  const json::object& o = v.get_object();
  auto* version = o.if_contains("v");
  if (!version || !version->is_int64() || version->get_int64() != kStateVersion) {
    return Corrupt("unknown version");
  }
  CheckpointState s;
  auto text_of = [&](const char* key, std::string* out) -> bool {
    auto* p = o.if_contains(key);
    if (!p) return true;  // optional keys
    if (!p->is_string()) return false;
    *out = p->get_string();
    return true;
  };
  auto number_of = [&](const char* key, int64_t* out) -> bool {
    auto* p = o.if_contains(key);
    if (!p || !p->is_int64()) return false;
    *out = p->get_int64();
    return true;
  };
  if (!text_of("phase", &s.phase) || (s.phase != "rows" && s.phase != "done")) {
    return Corrupt("phase");
  }
  if (!number_of("rows", &s.rows) || !number_of("succeeded", &s.succeeded) ||
      !number_of("failed", &s.failed) || !number_of("written", &s.written) ||
      !number_of("chunks", &s.chunks)) {
    return Corrupt("counters");
  }
  if (!text_of("output_file", &s.output_file) || !text_of("seen", &s.seen) ||
      !text_of("status", &s.status) || !text_of("error", &s.error) ||
      !text_of("attached", &s.attached)) {
    return Corrupt("text fields");
  }
  if (auto* state = o.if_contains("state")) s.state = *state;
  return s;
}

Checkpointer::Checkpointer(Storage& storage, std::function<void(const RunCheckpoint&)> on_saved,
                           size_t max_spare)
    : storage_(storage),
      on_saved_(std::move(on_saved)),
      max_spare_(max_spare),
      thread_([this] { Loop(); }) {}

Checkpointer::~Checkpointer() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !saving_; });
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Checkpointer::busy() const { return busy_.load(std::memory_order_acquire); }

std::string Checkpointer::TakeSpare() {
  std::lock_guard lock(mu_);
  if (spare_.empty()) return {};
  std::string spare = std::move(spare_.back());
  spare_.pop_back();
  return spare;
}

void Checkpointer::Submit(RunCheckpoint checkpoint) {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !saving_; });
    if (!status_.ok()) return;
    next_ = std::move(checkpoint);
    saving_ = true;
    busy_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

Status Checkpointer::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !saving_; });
  return status_;
}

Status Checkpointer::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void Checkpointer::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || next_.has_value(); });
    if (!next_) return;
    RunCheckpoint checkpoint = std::move(*next_);
    next_.reset();
    lock.unlock();
    Status saved = storage_.RunCheckpointSave(checkpoint);
    if (saved.ok() && on_saved_) on_saved_(checkpoint);
    lock.lock();
    if (!saved.ok() && status_.ok()) {
      status_ = std::move(saved);
      failed_.store(true, std::memory_order_release);
    }
    for (auto& chunk : checkpoint.output_chunks) {
      if (spare_.size() >= max_spare_) break;
      spare_.push_back(std::move(chunk));
    }
    saving_ = false;
    busy_.store(false, std::memory_order_release);
    cv_.notify_all();
  }
}

}  // namespace taskmill::bulk
