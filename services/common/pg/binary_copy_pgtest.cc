// BinaryCopyParser on hand-made streams (always), CopyOutConnection against a real PostgreSQL
// (HIE_TEST_PG_DSN).

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/common/pg/binary_copy.h"
#include "tests/support/test_env.h"

namespace hie::pg {
namespace {

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string Be16(int16_t v) {
  return {static_cast<char>(static_cast<uint16_t>(v) >> 8), static_cast<char>(v)};
}
const std::string kHeader = std::string("PGCOPY\n\377\r\n\0", 11) + Be32(0) + Be32(0);

// A tuple of fields; nullopt = NULL.
std::string Tuple(const std::vector<std::optional<std::string>>& fields) {
  std::string out = Be16(static_cast<int16_t>(fields.size()));
  for (const auto& f : fields) {
    out += f ? Be32(static_cast<uint32_t>(f->size())) + *f : Be32(0xffffffff);
  }
  return out;
}

using Rows = std::vector<std::vector<std::optional<std::string>>>;

// Feeds `stream` in pieces of `piece` bytes; the rows seen and the status of Feed / Finish.
absl::Status Parse(const std::string& stream, size_t piece, Rows* rows) {
  BinaryCopyParser parser;
  for (size_t at = 0; at < stream.size(); at += piece) {
    absl::Status s =
        parser.Feed(absl::string_view(stream).substr(at, piece), [&](const CopyFields& fields) {
          auto& row = rows->emplace_back();
          for (const auto& f : fields) {
            row.push_back(f ? std::optional<std::string>(*f) : std::nullopt);
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
  }
  return parser.Finish();
}

TEST(BinaryCopyParserTest, ReadsTuplesWhateverThePieces) {
  const std::string binary("a\0b\xff", 4);
  const std::string stream =
      kHeader + Tuple({"1", std::nullopt, binary}) + Tuple({}) + Tuple({std::string()}) + Be16(-1);
  for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, stream.size()}) {
    Rows rows;
    ASSERT_TRUE(Parse(stream, piece, &rows).ok()) << piece;
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], (std::vector<std::optional<std::string>>{"1", std::nullopt, binary}));
    EXPECT_TRUE(rows[1].empty());
    EXPECT_EQ(rows[2], (std::vector<std::optional<std::string>>{std::string()}));
  }
}

TEST(BinaryCopyParserTest, SkipsTheHeaderExtension) {
  const std::string stream =
      std::string("PGCOPY\n\377\r\n\0", 11) + Be32(0) + Be32(3) + "xyz" + Tuple({"v"}) + Be16(-1);
  Rows rows;
  ASSERT_TRUE(Parse(stream, 2, &rows).ok());
  EXPECT_EQ(rows.size(), 1u);
}

TEST(BinaryCopyParserTest, MalformedStreamsAreErrorsNotReads) {
  const std::string good = kHeader + Tuple({"abc"}) + Be16(-1);
  struct Case {
    const char* what;
    std::string stream;
  } cases[] = {
      {"wrong signature", "PGCOPY\n\377\r\nX" + Be32(0) + Be32(0) + Be16(-1)},
      {"with oids", std::string("PGCOPY\n\377\r\n\0", 11) + Be32(1 << 16) + Be32(0) + Be16(-1)},
      {"length past the end", kHeader + Be16(1) + Be32(1000) + "abc"},
      {"negative length", kHeader + Be16(1) + Be32(0xfffffff0) + Be16(-1)},
      {"negative count", kHeader + Be16(-5)},
      {"cut in a tuple", kHeader + Be16(2) + Be32(1) + "a"},
      {"no trailer", kHeader + Tuple({"abc"})},
      {"bytes after the trailer", good + "z"},
      {"header extension past the end",
       std::string("PGCOPY\n\377\r\n\0", 11) + Be32(0) + Be32(0x7fffffff) + "short"},
      {"empty", ""},
  };
  for (const Case& c : cases) {
    Rows rows;
    EXPECT_FALSE(Parse(c.stream, 5, &rows).ok()) << c.what;
  }
}

TEST(BinaryCopyParserTest, TheCallbacksErrorStopsTheParse) {
  const std::string stream = kHeader + Tuple({"1"}) + Tuple({"2"}) + Be16(-1);
  BinaryCopyParser parser;
  int seen = 0;
  absl::Status s = parser.Feed(stream, [&](const CopyFields&) {
    ++seen;
    return absl::CancelledError("enough");
  });
  EXPECT_TRUE(absl::IsCancelled(s));
  EXPECT_EQ(seen, 1);
  EXPECT_FALSE(parser.Finish().ok());
}

class CopyOutConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = hie::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto conn = CopyOutConnection::Open(db_->dsn(), absl::Seconds(5));
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = *std::move(conn);
  }
  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::unique_ptr<CopyOutConnection> conn_;
};

TEST_F(CopyOutConnectionTest, StreamsRowsAsStored) {
  ASSERT_TRUE(conn_
                  ->Exec("CREATE TABLE t (n bigint, b bytea, s text); INSERT INTO t SELECT i, "
                         "decode(repeat('00ff', i), 'hex'), CASE WHEN i % 2 = 0 THEN 'x' END "
                         "FROM generate_series(1, 3000) i")
                  .ok());
  int64_t rows = 0, bytes = 0, nulls = 0;
  absl::Status s = conn_->CopyOut(
      "COPY (SELECT n, b, s FROM t ORDER BY n) TO STDOUT (FORMAT binary)",
      [&](const CopyFields& f) {
        EXPECT_EQ(f.size(), 3u);
        ++rows;
        EXPECT_EQ(f[0]->size(), 8u);  // bigint, big-endian
        EXPECT_EQ(static_cast<unsigned char>((*f[0])[7]), static_cast<unsigned char>(rows));
        int64_t n = 0;
        EXPECT_TRUE(CopyBigint(f[0], &n));
        EXPECT_EQ(n, rows);
        EXPECT_FALSE(CopyBigint(absl::string_view("1234567"), &n));  // 7 bytes
        EXPECT_FALSE(CopyBigint(std::nullopt, &n));
        EXPECT_EQ(f[1]->size(), static_cast<size_t>(2 * rows));
        bytes += static_cast<int64_t>(f[1]->size());
        nulls += f[2] ? 0 : 1;
        return absl::OkStatus();
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(rows, 3000);
  EXPECT_EQ(bytes, 3000 * 3001);
  EXPECT_EQ(nulls, 1500);
}

TEST_F(CopyOutConnectionTest, ACallbackErrorDrainsAndLeavesTheConnectionUsable) {
  ASSERT_TRUE(conn_->Exec("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n").ok());
  int seen = 0;
  absl::Status s = conn_->CopyOut("COPY t TO STDOUT (FORMAT binary)", [&](const CopyFields&) {
    return ++seen == 10 ? absl::CancelledError("stop") : absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_EQ(seen, 10);
  EXPECT_TRUE(conn_
                  ->CopyOut("COPY t TO STDOUT (FORMAT binary)",
                            [](const CopyFields&) { return absl::OkStatus(); })
                  .ok());
}

TEST_F(CopyOutConnectionTest, ServerErrorsAreMappedWithoutTheirText) {
  absl::Status s = conn_->CopyOut("COPY no_such_table TO STDOUT (FORMAT binary)",
                                  [](const CopyFields&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "database error (42P01)");
  s = conn_->Exec("SET statement_timeout = 50; SELECT pg_sleep(1)");
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_TRUE(conn_->Exec("SET statement_timeout = 0").ok());
}

TEST(CopyOutConnectionOpenTest, AnUnreachableServerIsUnavailable) {
  auto conn = CopyOutConnection::Open("host=127.0.0.1 port=1 user=nobody", absl::Seconds(2));
  EXPECT_TRUE(absl::IsUnavailable(conn.status())) << conn.status();
}

}  // namespace
}  // namespace hie::pg
