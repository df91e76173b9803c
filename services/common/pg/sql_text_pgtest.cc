// The literals of sql_text.h read back by a real PostgreSQL (HIE_TEST_PG_DSN): every byte and
// every character that needs escaping survives, as a prepared statement's argument.

#include <gtest/gtest.h>

#include <pqxx/binarystring>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "services/common/pg/sql_text.h"
#include "tests/support/test_env.h"

namespace hie::pg {
namespace {

class SqlTextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    auto db = hie::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    conn_ = std::make_unique<pqxx::connection>(db_->dsn());
    pqxx::nontransaction(*conn_).exec(
        "PREPARE texts AS SELECT x FROM unnest($1::text[]) WITH ORDINALITY AS t(x, i) ORDER BY i; "
        "PREPARE bytes AS SELECT x FROM unnest($1::bytea[]) WITH ORDINALITY AS t(x, i) ORDER BY i; "
        "PREPARE numbers AS SELECT x FROM unnest($1::bigint[]) WITH ORDINALITY AS t(x, i) ORDER BY "
        "i; PREPARE one AS SELECT $1::text, $2::bytea, $3::bigint, $4::boolean");
  }

  pqxx::result Run(const std::string& sql) { return pqxx::nontransaction(*conn_).exec(sql); }

  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::unique_ptr<pqxx::connection> conn_;
};

TEST_F(SqlTextTest, TextArrayKeepsEveryCharacter) {
  const std::vector<std::string> texts = {
      "plain", "",     "with \"quotes\"", "back\\slash\\", "{braces},commas",
      "NULL",  "it's", " spaces ",        "ünïcødé"};
  Sql sql(*conn_);
  pqxx::result r = Run(sql.Execute("texts", TextArray(texts)));
  ASSERT_EQ(sql.TakeError(), nullptr);
  ASSERT_EQ(r.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(r[i][0].c_str(), texts[i]) << i;
}

TEST_F(SqlTextTest, ByteaArrayKeepsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  const std::vector<std::string> items = {all, "", std::string("\0\\\"'", 4), "x"};
  Sql sql(*conn_);
  pqxx::result r = Run(sql.Execute("bytes", ByteaArray(items)));
  ASSERT_EQ(r.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(pqxx::binarystring(r[i][0]).str(), items[i]) << i;
  }
}

TEST_F(SqlTextTest, NumberArrayAndScalarLiterals) {
  Sql sql(*conn_);
  pqxx::result r = Run(
      sql.Execute("numbers", NumberArray(std::vector<int64_t>{-9223372036854775807LL - 1, 0, 42})));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0][0].as<int64_t>(), -9223372036854775807LL - 1);
  EXPECT_EQ(r[2][0].as<int64_t>(), 42);
  const std::string bytes("\0'\\", 3);
  r = Run(sql.Execute("one", std::string("o'brien \\ x"), Bytea{bytes}, int64_t{-7}, true));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0][0].c_str(), std::string("o'brien \\ x"));
  EXPECT_EQ(pqxx::binarystring(r[0][1]).str(), bytes);
  EXPECT_EQ(r[0][2].as<int64_t>(), -7);
  EXPECT_TRUE(r[0][3].as<bool>());
}

TEST_F(SqlTextTest, TextThatIsNotUtf8IsAnErrorNotAStatement) {
  Sql sql(*conn_);
  const std::string statement =
      sql.Execute("one", std::string("cut \xE2\x82"), Bytea{""}, int64_t{1}, false);
  EXPECT_NE(statement.find("NULL"), std::string::npos);  // in place of the text it refused
  EXPECT_NE(sql.TakeError(), nullptr);
  EXPECT_EQ(sql.TakeError(), nullptr);  // taken once
}

TEST_F(SqlTextTest, TextWithANulByteIsAnErrorNotACutText) {
  Sql sql(*conn_);
  sql.Execute("one", std::string("key\0tail", 8), Bytea{""}, int64_t{1}, false);
  EXPECT_NE(sql.TakeError(), nullptr) << "a scalar";
  sql.Execute("texts", TextArray({"a", std::string("b\0c", 3)}));
  EXPECT_NE(sql.TakeError(), nullptr) << "an array element";
  // Bytes may hold NUL: bytea is hex, never cut.
  sql.Execute("bytes", ByteaArray({std::string("\0", 1)}));
  EXPECT_EQ(sql.TakeError(), nullptr);
}

}  // namespace
}  // namespace hie::pg
