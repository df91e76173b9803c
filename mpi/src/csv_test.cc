#include "hie/mpi/csv.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hie::mpi {
namespace {

using ::testing::HasSubstr;

struct Read {
  absl::Status status;
  std::vector<std::pair<Record, int64_t>> rows;
  std::vector<RowError> errors;
};

Read ReadAll(const std::string& text, const std::string& map_spec = "") {
  Read out;
  ColumnMap map;
  if (!map_spec.empty()) {
    auto m = ParseColumnMap(map_spec);
    EXPECT_TRUE(m.ok()) << m.status();
    map = *m;
  }
  out.status = ReadRecordsCsv(
      text, map, "row", [&out](Record&& r, int64_t line) { out.rows.emplace_back(r, line); },
      &out.errors);
  return out;
}

TEST(CsvReaderTest, QuotesCrLfAndBom) {
  const std::string text =
      "\xEF\xBB\xBF" "a,b,c\r\n\"x, y\",\"he said \"\"hi\"\"\",\"two\nlines\"\r\n\r\nlast,,\n";
  CsvReader reader(text);
  std::vector<std::string> row;
  absl::Status st;
  ASSERT_TRUE(reader.Next(&row, &st));
  EXPECT_EQ(row, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(reader.Next(&row, &st));
  EXPECT_EQ(row, (std::vector<std::string>{"x, y", "he said \"hi\"", "two\nlines"}));
  EXPECT_EQ(reader.line(), 2);
  ASSERT_TRUE(reader.Next(&row, &st));
  EXPECT_EQ(row, (std::vector<std::string>{"last", "", ""}));
  EXPECT_EQ(reader.line(), 5);  // the quoted line break counts
  EXPECT_FALSE(reader.Next(&row, &st));
  EXPECT_TRUE(st.ok());
}

TEST(CsvReaderTest, UnterminatedQuoteNamesTheLine) {
  CsvReader reader("a,b\n1,2\n3,\"oops\n4,5\n");
  std::vector<std::string> row;
  absl::Status st;
  ASSERT_TRUE(reader.Next(&row, &st));
  ASSERT_TRUE(reader.Next(&row, &st));
  EXPECT_FALSE(reader.Next(&row, &st));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("line 3"));
}

TEST(ReadRecordsCsvTest, StandardColumnsAndUnknownColumnsIgnored) {
  const Read r = ReadAll(
      "record_id,given_name,family_name,shoe_size,birth_date\n"
      "1,Ann,Lee,38,1980-01-02\n"
      "2,Bob,,41,\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].first.given_name, "Ann");
  EXPECT_EQ(r.rows[0].first.birth_date, "1980-01-02");
  EXPECT_EQ(r.rows[0].second, 2);
  EXPECT_EQ(r.rows[1].first.family_name, "");
  EXPECT_TRUE(r.errors.empty());
}

TEST(ReadRecordsCsvTest, BadRowsAreReportedWithLineAndSkipped) {
  const Read r = ReadAll(
      "record_id,given_name,family_name\n"
      "1,Ann,Lee\n"
      "2,Secret Name\n"           // too few fields
      "3,Carl,Ray,extra\n"        // too many
      ",Dora,Fox\n"               // empty id
      "1,Eve,Gray\n"              // duplicate id
      "6,Finn,Hope\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].first.record_id, "6");
  ASSERT_EQ(r.errors.size(), 4u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[1].line, 4);
  EXPECT_EQ(r.errors[2].line, 5);
  EXPECT_EQ(r.errors[3].line, 6);
  for (const RowError& e : r.errors) {
    // Messages never echo field values (PHI).
    EXPECT_THAT(e.message, ::testing::Not(HasSubstr("Secret")));
    EXPECT_THAT(e.message, ::testing::Not(HasSubstr("Eve")));
  }
}

TEST(ReadRecordsCsvTest, MalformedFiles) {
  EXPECT_EQ(ReadAll("").status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadAll("\n\n").status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadAll("foo,bar\n1,2\n").status.code(), absl::StatusCode::kInvalidArgument);
  const Read unterminated = ReadAll("record_id,given_name\n1,\"Ann\n");
  EXPECT_EQ(unterminated.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unterminated.status.message()), HasSubstr("line 2"));
  EXPECT_EQ(ReadAll("\x00\x01\x02garbage", "").status.code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReadRecordsCsvTest, MissingIdColumnGetsLineIds) {
  const Read r = ReadAll("given_name,family_name\nAnn,Lee\n");
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].first.record_id, "row2");
}

TEST(ReadRecordsCsvTest, ColumnMapRenamesAndJoins) {
  const Read r = ReadAll(
      "rec_id,given_name,surname,street_number,address_1,date_of_birth\n"
      "rec-1-org,ann,lee,12,main street,19800102\n"
      "rec-2-org,bob,ray,,high street,\n",
      "record_id=rec_id,family_name=surname,address_line=street_number+address_1,"
      "birth_date=date_of_birth");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].first.record_id, "rec-1-org");
  EXPECT_EQ(r.rows[0].first.family_name, "lee");
  EXPECT_EQ(r.rows[0].first.address_line, "12 main street");
  EXPECT_EQ(r.rows[1].first.address_line, "high street");
  EXPECT_EQ(r.rows[0].first.birth_date, "19800102");
}

TEST(ParseColumnMapTest, Errors) {
  EXPECT_FALSE(ParseColumnMap("family_name").ok());
  EXPECT_FALSE(ParseColumnMap("=surname").ok());
  EXPECT_FALSE(ParseColumnMap("shoe_size=x").ok());  // not a standard column
  EXPECT_TRUE(ParseColumnMap("").ok());
  const Read r = ReadAll("a,b\n1,2\n", "record_id=missing_column");
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReadTwoColumnsTest, ByNameAndPosition) {
  const std::string text = "unique_id,first_name,cluster\n0,Ann,7\n1,Bob,7\n";
  auto by_name = ReadTwoColumns(text, "unique_id", "cluster");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->at(1), (std::pair<std::string, std::string>{"1", "7"}));
  auto by_position = ReadTwoColumns(text, "", "");
  ASSERT_TRUE(by_position.ok());
  EXPECT_EQ(by_position->at(0).second, "Ann");
  EXPECT_FALSE(ReadTwoColumns(text, "nope", "cluster").ok());
  EXPECT_FALSE(ReadTwoColumns("only\n1\n", "", "").ok());
}

TEST(CsvEscapeTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvEscape("plain"), "plain");
  EXPECT_EQ(CsvEscape("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvEscape("say \"x\""), "\"say \"\"x\"\"\"");
}

}  // namespace
}  // namespace hie::mpi
