#pragma once

// hiectl's text output: aligned tables and the rendering of every identity response. Pure
// functions of the messages; the result ends with a newline. Widths count Unicode code points,
// so names with diacritics stay aligned. Identifiers of the US SSN system are masked to their
// last four digits (use --json for the raw response).

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "hie/audit/v1/audit.pb.h"
#include "hie/common/v1/common.pb.h"
#include "hie/consent/v1/consent.pb.h"
#include "hie/identity/v1/identity.pb.h"
#include "hie/locator/v1/locator.pb.h"
#include "hie/registry/v1/registry.pb.h"

namespace hie::hiectl {

// A text table: upper-case headers, columns two spaces apart, no trailing spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // Right-aligns a column (numbers).
  Table& RightAlign(size_t column);
  // Missing cells are empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  // A line of dashes across the table.
  void AddSeparator();
  size_t rows() const { return rows_.size(); }
  // Every line starts with `indent`.
  std::string Render(absl::string_view indent = "") const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;  // an empty row is a separator
};

// "key  value" lines, keys aligned; pairs with an empty value are skipped.
std::string KeyValues(const std::vector<std::pair<std::string, std::string>>& pairs,
                      absl::string_view indent = "");

// Display width: code points of UTF-8 text.
size_t DisplayWidth(absl::string_view text);

// Enum value name without its prefix, lower case, '_' -> '-': ("MATCH_GRADE_CERTAINLY_NOT",
// "MATCH_GRADE_") -> "certainly-not". "-" for *_UNSPECIFIED.
std::string EnumLabel(const std::string& name, absl::string_view prefix);
std::string GradeLabel(hie::identity::v1::MatchGrade grade);
std::string LevelLabel(hie::identity::v1::ComparisonLevel level);

// "2026-11-22T02:14:00Z" (fraction when not whole seconds); "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& time);
// FormatTime, but "" for an unset time (key-value blocks skip empty values).
std::string TimeOrEmpty(const google::protobuf::Timestamp& time);
// "-" for an empty table cell.
std::string Dash(const std::string& s);
// "12.34" / "-3.20"; sign always on weights ("+8.12", "-3.20", "0.00").
std::string FormatScore(double score);
std::string FormatWeight(double weight);
// "org/local_id"; "-" when empty.
std::string FormatSourceId(const hie::common::v1::SourceId& id);
// "user@org (role)" with the parts that are set; "-" when none.
std::string FormatActor(const hie::common::v1::Actor& actor);

// Label/value rows of demographics in a fixed order (every label always present, value maybe
// empty), for key-value and side-by-side views.
std::vector<std::pair<std::string, std::string>> DemographicRows(
    const hie::common::v1::Demographics& d);

// The match explanation: per-field table (as ordered by the server), totals, thresholds,
// guards, model version.
std::string RenderExplanation(const hie::identity::v1::MatchExplanation& explanation,
                              absl::string_view indent = "");

// Candidate table (# person grade score best-record).
std::string RenderCandidates(
    const std::vector<const hie::identity::v1::MatchCandidate*>& candidates);
// "candidate N: P (grade, score S), compared with org/id" and the explanation, per candidate.
std::string RenderCandidateExplanations(
    const std::vector<const hie::identity::v1::MatchCandidate*>& candidates);

// With `explain`, each candidate's explanation follows the candidate table.
std::string RenderRegister(const hie::identity::v1::RegisterSourceRecordResponse& response,
                           bool validate_only, bool explain);
std::string RenderResolve(const hie::identity::v1::ResolveResponse& response);
std::string RenderSearch(const hie::identity::v1::SearchPersonsResponse& response, bool explain);
std::string RenderReviewList(const hie::identity::v1::ListReviewTasksResponse& response);
std::string RenderReviewTask(const hie::identity::v1::ReviewTask& task);
std::string RenderResolveReview(const hie::identity::v1::ResolveReviewTaskResponse& response);
std::string RenderLink(const hie::identity::v1::LinkRecordResponse& response);
std::string RenderUnlink(const hie::identity::v1::UnlinkRecordResponse& response);
std::string RenderMerge(const hie::identity::v1::MergePersonsResponse& response);
std::string RenderUnmerge(const hie::identity::v1::UnmergePersonsResponse& response);
std::string RenderPerson(const hie::identity::v1::Person& person);
std::string RenderSourceRecord(const hie::identity::v1::SourceRecord& record);
std::string RenderHistory(const hie::identity::v1::GetHistoryResponse& response);

// Bulk registration: one line per row, and the summary.
std::string RenderBulkRow(int line, const hie::identity::v1::RegisterSourceRecordRequest& request,
                          const hie::identity::v1::RegisterSourceRecordResponse& response);
struct BulkSummary {
  int rows = 0;        // data rows in the file
  int created = 0;     // first versions stored
  int new_person = 0;  // outcome NEW_PERSON
  int linked = 0;      // outcome LINKED
  int review = 0;      // outcome REVIEW
  int unchanged = 0;   // outcome UNCHANGED
  int stale = 0;       // older versions that only went into history
  int errors = 0;      // bad rows plus failed calls
  int not_sent = 0;    // rows never sent (the run stopped early)
};
std::string RenderBulkSummary(const BulkSummary& summary);

// --- Audit and consent (render_audit_consent.cc) --------------------------------------------
// Tables show patient source ids (operators look them up); hashes and signatures as hex.

// "hash-mismatch" for STATUS_HASH_MISMATCH, "valid", ...
std::string VerifyStatusLabel(hie::audit::v1::VerifyResult::Status status);
// Lower-case hex of bytes; "-" when empty.
std::string Hex(absl::string_view bytes);

std::string RenderAuditEvents(const hie::audit::v1::SearchEventsResponse& response);
std::string RenderDisclosures(const hie::audit::v1::GetAccountingOfDisclosuresResponse& response);
// First line "VALID" or "NOT VALID: <status>", then the first bad sequence, the detail and the
// range checked.
std::string RenderVerifyResult(const hie::audit::v1::VerifyResult& result);
std::string RenderCheckpoints(const hie::audit::v1::ListCheckpointsResponse& response);
std::string RenderCheckpoint(const hie::audit::v1::Checkpoint& checkpoint);
std::string RenderSigningKeys(const hie::audit::v1::ListSigningKeysResponse& response);

std::string RenderDirective(const hie::consent::v1::ConsentDirective& directive);
std::string RenderDirectives(const hie::consent::v1::ListDirectivesResponse& response);
std::string RenderGrants(const hie::consent::v1::ListBreakGlassGrantsResponse& response);
std::string RenderGrant(const hie::consent::v1::BreakGlassGrant& grant);
// A consent decision: effect, basis, deciding directive or grant, obligations.
std::string RenderDecision(const hie::consent::v1::Decision& decision);

// --- Locator and registry (render_exchange.cc) ------------------------------------------------
// Free text from members (titles, display names, reasons) is made printable and cut to a
// column's width; ids are printed whole (operators copy them into the next command).

// `text` made printable (PrintableText) and cut to at most `max_width` code points, the last
// one "…" when cut. `max_width` >= 1.
std::string Truncate(absl::string_view text, size_t max_width);

// Locations (org, local id, documents, categories, last activity, first seen, origins,
// identity record), most recent first as the locator sends them.
std::string RenderLocate(const hie::locator::v1::LocateResponse& response);
// As RenderLocate, plus when and why removed ones were removed, and the next page.
std::string RenderLocations(const hie::locator::v1::ListLocationsResponse& response);
// "location clinic-a/MRN-1 removed (patient-request)".
std::string RenderLocationDeleted(const hie::locator::v1::DeleteLocationRequest& request);

// Entries (entry uuid, unique id, version, status, class, type, created, member/repository,
// size, title) and the next page.
std::string RenderDocuments(const hie::registry::v1::FindDocumentsResponse& response);
std::string RenderGetDocuments(const hie::registry::v1::GetDocumentsResponse& response);
// The associations (type, source, target), then the entries at their other end.
std::string RenderRelatedDocuments(const hie::registry::v1::GetRelatedDocumentsResponse& response);
// One entry, every field that is set, as key-value lines.
std::string RenderDocumentEntry(const hie::registry::v1::DocumentEntry& entry);

}  // namespace hie::hiectl
