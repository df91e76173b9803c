#include "hie/mpi/nicknames.h"

#include "gtest/gtest.h"

namespace hie::mpi {
namespace {

constexpr char kTable[] =
    "name1,relationship,name2\n"
    "robert,has_nickname,bob\n"
    "robert,has_nickname,rob\n"
    "aaron,has_nickname,ron\n"
    "ronald,has_nickname,ron\n"
    "élisabeth,has_nickname,liz\n";

TEST(NicknameTableTest, Equivalence) {
  auto t = NicknameTable::FromCsv(kTable);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->Equivalent("ROBERT", "BOB"));
  EXPECT_TRUE(t->Equivalent("BOB", "ROBERT"));
  EXPECT_TRUE(t->Equivalent("BOB", "ROB"));       // two nicknames of one formal name
  EXPECT_TRUE(t->Equivalent("ELISABETH", "LIZ"));  // folded
  EXPECT_TRUE(t->Equivalent("RON", "AARON"));
  EXPECT_FALSE(t->Equivalent("AARON", "RONALD"));  // not transitive through RON
  EXPECT_FALSE(t->Equivalent("BOB", "LIZ"));
  EXPECT_FALSE(t->Equivalent("", ""));
  EXPECT_TRUE(t->Equivalent("ZED", "ZED"));        // equal names
  EXPECT_NE(t->FormalId("ROBERT"), 0u);
  EXPECT_EQ(t->FormalId("BOB"), 0u);
  EXPECT_EQ(t->Groups("UNKNOWNNAME"), nullptr);
}

TEST(NicknameTableTest, MalformedLineIsAnError) {
  auto t = NicknameTable::FromCsv("robert,has_nickname,bob\nrobert,bob\n");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("line 2"), absl::string_view::npos);
}

TEST(NicknameTableTest, EmptyAndMissingFile) {
  auto empty = NicknameTable::FromCsv("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0u);
  auto missing = NicknameTable::LoadFile("/nonexistent/nicknames.csv");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(NicknameTableTest, ShippedTableLoads) {
  auto t = NicknameTable::LoadFile(DefaultNicknamePath());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_GT(t->size(), 1000u);
  EXPECT_TRUE(t->Equivalent("ROBERT", "BOB"));
  EXPECT_TRUE(t->Equivalent("ELIZABETH", "LIZ"));
  EXPECT_TRUE(t->Equivalent("WILLIAM", "BILL"));
}

}  // namespace
}  // namespace hie::mpi
