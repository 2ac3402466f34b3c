// StoredFileSource: a stored file as a byte stream, whatever the chunk sizes and the
// room its reader offers (chunks read straight into the reader's buffer, or through
// the source's own when they do not fit).
#include "bulk/stored_file.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bulk/bulk_test_util.h"

namespace taskmill::bulk {
namespace {

class StoredFileSourceTest : public testing::BulkFixture {
 protected:
  void SetUp() override { Open(); }

  // Stores `chunks` as file `id`.
  void Store(const std::string& id, const std::vector<std::string>& chunks) {
    FileCreateParams params;
    params.id = id;
    params.now = clock().Now();
    ASSERT_TRUE(storage().FileCreate(params).ok());
    for (size_t i = 0; i < chunks.size(); ++i) {
      ASSERT_TRUE(storage().FileAppend(id, static_cast<int64_t>(i), chunks[i]).ok());
    }
  }

  // Everything the source yields when asked for `room` bytes at a time.
  std::string ReadAll(const std::string& id, int64_t chunks, size_t room) {
    StoredFileSource source(storage(), id, chunks);
    std::string out;
    std::vector<char> buffer(room);
    for (;;) {
      size_t got = source.Read(buffer.data(), buffer.size());
      EXPECT_LE(got, room);
      if (got == 0) return out;
      out.append(buffer.data(), got);
    }
  }
};

TEST_F(StoredFileSourceTest, YieldsTheFileWhateverTheRoomAndTheChunkSizes) {
  std::vector<std::string> chunks = {"a,b\n1,2\n", "", "3,", std::string(100, 'x'), "", "\n"};
  Store("f", chunks);
  std::string whole;
  for (const auto& chunk : chunks) whole += chunk;
  for (size_t room : {1, 2, 7, 8, 99, 100, 101, 4096}) {
    EXPECT_EQ(ReadAll("f", static_cast<int64_t>(chunks.size()), room), whole) << "room " << room;
  }
}

TEST_F(StoredFileSourceTest, AMissingChunkThrowsTheStorageError) {
  Store("f", {"a\n"});
  StoredFileSource source(storage(), "f", 2);
  char buffer[16];
  EXPECT_EQ(source.Read(buffer, sizeof buffer), 2u);
  try {
    source.Read(buffer, sizeof buffer);
    ADD_FAILURE() << "no error";
  } catch (const StorageReadError& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kNotFound) << e.status().ToString();
  }
}

}  // namespace
}  // namespace taskmill::bulk
