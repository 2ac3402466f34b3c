// Pushed response bodies (Reply::Push): Server-Sent Events. The connection pulls what
// its PushSource announces and writes it as HTTP chunks, without waiting when the
// socket takes it at once; an idle stream sends keep-alive comments.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <iterator>

#include "api/session.h"

namespace taskmill::api {
namespace {

// How often an idle event stream sends a comment line, so that proxies and clients
// see the connection alive and a vanished client is noticed.
constexpr auto kEventKeepAlive = std::chrono::seconds(15);

// A pushed write (Reply::Push) as one HTTP chunk — its size line, the shared texts
// read in place (no copy of the bytes, no second list per connection), and the CRLF
// that ends it — in one flat buffer sequence. Beast's make_chunk over a sequence of
// hundreds of small texts spent 16 % of the server's CPU stepping its concatenated
// iterator on every partial write; this one steps an index.
class PushChunk {
 public:
  class const_iterator {
   public:
    using value_type = net::const_buffer;
    using reference = net::const_buffer;
    using pointer = void;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::bidirectional_iterator_tag;
    const_iterator() = default;
    const_iterator(const PushChunk* chunk, size_t at) : chunk_(chunk), at_(at) {}
    net::const_buffer operator*() const { return chunk_->at(at_); }
    const_iterator& operator++() {
      ++at_;
      return *this;
    }
    const_iterator operator++(int) { return const_iterator(chunk_, at_++); }
    const_iterator& operator--() {
      --at_;
      return *this;
    }
    const_iterator operator--(int) { return const_iterator(chunk_, at_--); }
    bool operator==(const const_iterator& other) const { return at_ == other.at_; }

   private:
    const PushChunk* chunk_ = nullptr;
    size_t at_ = 0;
  };
  using value_type = net::const_buffer;

  // The chunk of `parts` without its first `skip` bytes (those already written).
  explicit PushChunk(const std::vector<PushPart>& parts, size_t skip = 0)
      : parts_(parts.data()), count_(parts.size()) {
    size_t bytes = 0;
    for (const PushPart& part : parts) bytes += part->size();
    auto [end, ec] = std::to_chars(head_.data(), head_.data() + head_.size() - 2, bytes, 16);
    *end++ = '\r';
    *end++ = '\n';
    head_size_ = static_cast<size_t>(end - head_.data());
    while (first_ < count_ + 2 && skip >= whole(first_).size()) skip -= whole(first_++).size();
    first_offset_ = skip;
  }
  // Copies refer to their own size line (the write operation keeps a copy).
  PushChunk(const PushChunk&) = default;
  PushChunk& operator=(const PushChunk&) = default;

  const_iterator begin() const { return const_iterator(this, first_); }
  const_iterator end() const { return const_iterator(this, count_ + 2); }

 private:
  net::const_buffer at(size_t i) const { return i == first_ ? whole(i) + first_offset_ : whole(i); }
  net::const_buffer whole(size_t i) const {
    if (i == 0) return net::buffer(head_.data(), head_size_);
    if (i <= count_) return net::buffer(*parts_[i - 1]);
    return net::buffer("\r\n", 2);
  }

  const PushPart* parts_;
  size_t count_;
  std::array<char, 20> head_{};
  size_t head_size_ = 0;
  size_t first_ = 0;         // the first element not wholly skipped
  size_t first_offset_ = 0;  // bytes of it skipped
};

}  // namespace

void Session::SendPush(Reply reply) {
  Response& head = reply.response();
  stream_head_ = {};
  stream_head_.result(head.result());
  stream_head_.version(request_version_);
  for (const auto& field : head) stream_head_.set(field.name_string(), field.value());
  stream_head_.keep_alive(true);
  stream_head_.chunked(true);
  push_ = std::move(reply.push_source());
  stream_serializer_.emplace(stream_head_);
  SetStreamExpiry(server_.options_.request_timeout);
  http::async_write_header(stream_, *stream_serializer_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             if (ec) return self->Close();
                             if (self->head_) return self->OnStreamDone({}, 0);
                             self->StartPush();
                           });
}

void Session::StartPush() {
  stream_.expires_never();
  // WritePushParts writes what the socket takes at once without waiting.
  beast::error_code ignored;
  stream_.socket().non_blocking(true, ignored);
  std::weak_ptr<Session> weak = shared_from_this();
  push_->Start([weak, executor = stream_.get_executor()] {
    net::post(executor, [weak] {
      if (auto self = weak.lock()) self->PushNext();
    });
  });
  // The client sends nothing more on this connection: input or its end means the
  // client is gone (or misbehaving), and either way the stream ends.
  stream_.async_read_some(net::buffer(drain_),
                          [self = shared_from_this()](beast::error_code, size_t) {
                            self->push_closed_ = true;
                            self->Close();
                          });
  PushNext();
}

void Session::PushNext() {
  if (push_writing_ || push_closed_) return;
  push_->Pull(push_parts_);
  if (push_parts_.empty()) {
    read_timer_.expires_after(kEventKeepAlive);
    read_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->push_writing_ || self->push_closed_) return;
      static const PushPart kKeepAlive = std::make_shared<const std::string>(": keep-alive\n\n");
      self->push_parts_.push_back(kKeepAlive);
      self->WritePushParts();
    });
    return;
  }
  WritePushParts();
}

// Writes push_parts_ as one chunk.
void Session::WritePushParts() {
  push_writing_ = true;
  // Most pieces fit in the socket's send buffer at once: try that first, from a copy
  // in a per-thread scratch buffer that lives only for this call, so a piece costs
  // one system call. Written from the shared texts themselves, a piece of hundreds
  // of small frames took one call per 64 of them (the gather limit), and the server
  // used about a third more CPU than when each connection wrote a copy of its own.
  thread_local std::string scratch;
  scratch.clear();
  for (net::const_buffer buffer : PushChunk(push_parts_)) {
    scratch.append(static_cast<const char*>(buffer.data()), buffer.size());
  }
  beast::error_code ec;
  size_t written = stream_.socket().write_some(net::buffer(scratch), ec);  // non-blocking
  if (ec == net::error::would_block || ec == net::error::try_again) {
    ec = {};
    written = 0;
  }
  if (ec) {
    push_parts_.clear();
    push_closed_ = true;
    return Close();
  }
  if (written == scratch.size()) {
    push_parts_.clear();
    // Through the queue rather than at once, so that one busy stream does not keep
    // the thread from its other connections. push_writing_ holds off wakes meanwhile;
    // the pull that follows takes whatever they announced.
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->push_writing_ = false;
      self->PushNext();
    });
    return;
  }
  // The client is behind: the rest goes out as the socket drains, from the shared
  // texts (see PushPart), so a slow client holds references rather than bytes.
  // A client that stops reading is dropped instead of holding its buffers forever.
  SetStreamExpiry(server_.options_.request_timeout);
  net::async_write(stream_, PushChunk(push_parts_, written),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     self->push_writing_ = false;
                     // Written: let go of the texts (the last reference frees one
                     // that the ring has dropped meanwhile).
                     self->push_parts_.clear();
                     if (ec) {
                       self->push_closed_ = true;
                       return self->Close();
                     }
                     self->stream_.expires_never();  // the watching read has no deadline
                     self->PushNext();
                   });
}

}  // namespace taskmill::api
