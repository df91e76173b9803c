#include "services/hiectl/render.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "services/common/demographics.h"
#include "services/hiectl/commands.h"

namespace hie::hiectl {
namespace {

namespace id = ::hie::identity::v1;
namespace cm = ::hie::common::v1;

std::string Pad(const std::string& text, size_t width, bool right) {
  size_t w = DisplayWidth(text);
  std::string pad(width > w ? width - w : 0, ' ');
  return right ? pad + text : text + pad;
}

std::string JoinNonEmpty(const std::vector<std::string>& parts, absl::string_view sep) {
  std::vector<std::string> kept;
  for (const std::string& p : parts) {
    if (!p.empty()) kept.push_back(p);
  }
  return absl::StrJoin(kept, sep);
}

std::string FormatName(const cm::PersonName& n) {
  return JoinNonEmpty({n.prefix(), n.given(), n.middle(), n.family(), n.suffix()}, " ");
}

std::string FormatAddress(const cm::Address& a) {
  std::string line = absl::StrJoin(a.lines(), ", ");
  std::string region = JoinNonEmpty({a.state(), a.postal_code()}, " ");
  return JoinNonEmpty({line, a.city(), region, a.country()}, ", ");
}

std::string FormatIdentifier(const cm::Identifier& i) {
  if (i.system() == hie::kUsSsnSystem) {
    std::string digits;
    for (char c : i.value()) {
      if (absl::ascii_isdigit(c)) digits.push_back(c);
    }
    return absl::StrCat(
        "ssn ***-**-", digits.size() >= 4 ? digits.substr(digits.size() - 4) : std::string("????"));
  }
  return absl::StrCat(i.value(), " (", Dash(i.system()), ")");
}

std::string SexLabel(cm::Sex sex) { return EnumLabel(cm::Sex_Name(sex), "SEX_"); }

std::string OutcomeLabel(id::MatchOutcome o) {
  return EnumLabel(id::MatchOutcome_Name(o), "MATCH_OUTCOME_");
}
std::string RecordStateLabel(id::RecordState s) {
  return EnumLabel(id::RecordState_Name(s), "RECORD_STATE_");
}
std::string PersonStateLabel(id::PersonState s) {
  return EnumLabel(id::PersonState_Name(s), "PERSON_STATE_");
}
std::string MethodLabel(id::LinkMethod m) {
  return EnumLabel(id::LinkMethod_Name(m), "LINK_METHOD_");
}
std::string TaskStateLabel(id::ReviewTaskState s) {
  return EnumLabel(id::ReviewTaskState_Name(s), "REVIEW_TASK_STATE_");
}
std::string EventTypeLabel(id::IdentityEventType t) {
  return EnumLabel(id::IdentityEventType_Name(t), "IDENTITY_EVENT_TYPE_");
}
std::string GuardLabel(const id::GuardResult& g) {
  std::string label = EnumLabel(id::GuardResult::Kind_Name(g.kind()), "KIND_");
  if (!g.field().empty()) absl::StrAppend(&label, " (", g.field(), ")");
  if (!g.other_record().org().empty()) {
    absl::StrAppend(&label, " against ", g.other_record().org(), "/", g.other_record().local_id());
  }
  return label;
}

std::string LinksTable(const google::protobuf::RepeatedPtrField<id::Link>& links,
                       absl::string_view indent) {
  Table table({"org", "local id", "method", "score", "grade", "linked", "by", "reason"});
  table.RightAlign(3);
  for (const id::Link& l : links) {
    bool scored = l.method() == id::LINK_METHOD_AUTO;
    table.AddRow({l.source_id().org(), l.source_id().local_id(), MethodLabel(l.method()),
                  scored ? FormatScore(l.score()) : "-", GradeLabel(l.grade()),
                  FormatTime(l.create_time()), FormatActor(l.actor()), Dash(l.reason())});
  }
  return table.Render(indent);
}

// One-paragraph person summary used by the write commands.
std::string PersonBlock(absl::string_view title, const id::Person& p) {
  std::string out = absl::StrCat(title, ":\n");
  absl::StrAppend(&out, KeyValues({{"person", p.person_id()},
                                   {"state", PersonStateLabel(p.state())},
                                   {"merged into", p.merged_into_person_id()},
                                   {"etag", p.etag()}},
                                  "  "));
  if (p.links_size() > 0) {
    absl::StrAppend(&out, "  links (", p.links_size(), "):\n", LinksTable(p.links(), "    "));
  }
  return out;
}

std::string RecordLabel(const id::SourceRecord& r) {
  if (!r.has_source_id()) return "";
  return r.version() > 0 ? absl::StrCat(FormatSourceId(r.source_id()), " v", r.version())
                         : FormatSourceId(r.source_id());
}

// Value of a golden-record field path ("name.family", "birth_date", "addresses", ...).
std::string GoldenValue(const cm::Demographics& d, absl::string_view field) {
  const cm::PersonName& n = d.name();
  if (field == "name") return FormatName(n);
  if (field == "name.given") return n.given();
  if (field == "name.middle") return n.middle();
  if (field == "name.family") return n.family();
  if (field == "name.prefix") return n.prefix();
  if (field == "name.suffix") return n.suffix();
  if (field == "sex") return SexLabel(d.sex());
  if (field == "birth_date") return d.birth_date();
  if (field == "multiple_birth_order") {
    return d.multiple_birth_order() ? absl::StrCat(d.multiple_birth_order()) : "";
  }
  if (field == "mother_maiden_name") return d.mother_maiden_name();
  if (field == "deceased_date") return d.deceased_date();
  std::vector<std::string> values;
  if (field == "addresses") {
    for (const cm::Address& a : d.addresses()) values.push_back(FormatAddress(a));
  } else if (field == "phones") {
    for (const cm::ContactPoint& c : d.phones()) values.push_back(c.value());
  } else if (field == "emails") {
    for (const cm::ContactPoint& c : d.emails()) values.push_back(c.value());
  } else if (field == "identifiers") {
    for (const cm::Identifier& i : d.identifiers()) values.push_back(FormatIdentifier(i));
  } else if (field == "other_names") {
    for (const cm::PersonName& o : d.other_names()) values.push_back(FormatName(o));
  }
  return absl::StrJoin(values, "; ");
}

}  // namespace

// --- Table ------------------------------------------------------------------------------------

size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), right_(headers_.size(), false) {}

Table& Table::RightAlign(size_t column) {
  if (column < right_.size()) right_[column] = true;
  return *this;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::AddSeparator() { rows_.emplace_back(); }

std::string Table::Render(absl::string_view indent) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = DisplayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  size_t total = 0;
  for (size_t w : widths) total += w;
  total += widths.empty() ? 0 : 2 * (widths.size() - 1);
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out(indent);
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) out += "  ";
      out += Pad(cells[c], widths[c], right_[c]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::vector<std::string> upper;
  for (const std::string& h : headers_) upper.push_back(absl::AsciiStrToUpper(h));
  std::string out = line(upper);
  for (const auto& row : rows_) {
    out += row.empty() ? absl::StrCat(indent, std::string(total, '-'), "\n") : line(row);
  }
  return out;
}

std::string KeyValues(const std::vector<std::pair<std::string, std::string>>& pairs,
                      absl::string_view indent) {
  size_t width = 0;
  for (const auto& [key, value] : pairs) {
    if (!value.empty()) width = std::max(width, DisplayWidth(key));
  }
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (value.empty()) continue;
    absl::StrAppend(&out, indent, Pad(key, width, false), "  ", value, "\n");
  }
  return out;
}

// --- Values -----------------------------------------------------------------------------------

std::string EnumLabel(const std::string& name, absl::string_view prefix) {
  absl::string_view rest = name;
  absl::ConsumePrefix(&rest, prefix);
  if (rest.empty() || rest == "UNSPECIFIED") return "-";
  return absl::StrReplaceAll(absl::AsciiStrToLower(rest), {{"_", "-"}});
}

std::string GradeLabel(id::MatchGrade grade) {
  return EnumLabel(id::MatchGrade_Name(grade), "MATCH_GRADE_");
}

std::string LevelLabel(id::ComparisonLevel level) {
  return EnumLabel(id::ComparisonLevel_Name(level), "COMPARISON_LEVEL_");
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  absl::Time t = absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string FormatScore(double score) {
  if (std::abs(score) < 0.005) return "0.00";
  return absl::StrFormat("%.2f", score);
}

std::string FormatWeight(double weight) {
  if (std::abs(weight) < 0.005) return "0.00";
  return absl::StrFormat("%+.2f", weight);
}

std::string FormatSourceId(const cm::SourceId& id) {
  if (id.org().empty() && id.local_id().empty()) return "-";
  return absl::StrCat(id.org(), "/", id.local_id());
}

std::string FormatActor(const cm::Actor& a) {
  std::string who = a.user_id().empty() ? a.org()
                    : a.org().empty()   ? a.user_id()
                                        : absl::StrCat(a.user_id(), "@", a.org());
  if (a.role() != cm::ROLE_UNSPECIFIED) {
    std::string role = EnumLabel(cm::Role_Name(a.role()), "ROLE_");
    who = who.empty() ? role : absl::StrCat(who, " (", role, ")");
  }
  return Dash(who);
}

std::vector<std::pair<std::string, std::string>> DemographicRows(const cm::Demographics& d) {
  std::vector<std::string> other, addresses, phones, emails, identifiers;
  for (const cm::PersonName& n : d.other_names()) {
    std::string use = EnumLabel(cm::PersonName::Use_Name(n.use()), "USE_");
    other.push_back(use == "-" ? FormatName(n) : absl::StrCat(FormatName(n), " (", use, ")"));
  }
  for (const cm::Address& a : d.addresses()) addresses.push_back(FormatAddress(a));
  for (const cm::ContactPoint& c : d.phones()) phones.push_back(c.value());
  for (const cm::ContactPoint& c : d.emails()) emails.push_back(c.value());
  for (const cm::Identifier& i : d.identifiers()) identifiers.push_back(FormatIdentifier(i));
  std::string deceased = !d.deceased_date().empty() ? d.deceased_date()
                         : d.deceased()             ? "yes (date unknown)"
                                                    : "";
  std::string sex = SexLabel(d.sex());
  return {
      {"name", FormatName(d.name())},
      {"other names", absl::StrJoin(other, "; ")},
      {"sex", sex == "-" ? "" : sex},
      {"birth date", d.birth_date()},
      {"birth order", d.multiple_birth_order() ? absl::StrCat(d.multiple_birth_order()) : ""},
      {"address", absl::StrJoin(addresses, "; ")},
      {"phone", absl::StrJoin(phones, "; ")},
      {"email", absl::StrJoin(emails, "; ")},
      {"identifiers", absl::StrJoin(identifiers, "; ")},
      {"mother maiden", d.mother_maiden_name()},
      {"deceased", deceased},
  };
}

// --- Explanation ------------------------------------------------------------------------------

std::string RenderExplanation(const id::MatchExplanation& e, absl::string_view indent) {
  Table table({"field", "level", "weight", "comparator", "similarity", "note"});
  table.RightAlign(2).RightAlign(4);
  for (const id::FieldComparison& f : e.fields()) {
    // 0 means "no similarity" (the comparator has none, or the field is missing).
    table.AddRow({f.field(), LevelLabel(f.level()), FormatWeight(f.weight()), Dash(f.comparator()),
                  f.similarity() > 0 ? absl::StrFormat("%.2f", f.similarity()) : "-",
                  Dash(f.note())});
  }
  table.AddSeparator();
  table.AddRow({"total", "", FormatWeight(e.total_score())});
  std::string out = table.Render(indent);
  absl::StrAppend(&out, indent, "grade ", GradeLabel(e.grade()),
                  "; thresholds: certain >= ", FormatScore(e.upper_threshold()),
                  ", review >= ", FormatScore(e.lower_threshold()), ", below: no match");
  if (!e.model_version().empty()) absl::StrAppend(&out, "; model ", e.model_version());
  absl::StrAppend(&out, "\n");
  if (e.guards_size() == 0) {
    absl::StrAppend(&out, indent, "guards: none\n");
  } else {
    std::vector<std::string> guards;
    for (const id::GuardResult& g : e.guards()) guards.push_back(GuardLabel(g));
    absl::StrAppend(&out, indent, "guards: ", absl::StrJoin(guards, ", "),
                    " -> never linked automatically (at most a review task)\n");
  }
  return out;
}

std::string RenderCandidates(const std::vector<const id::MatchCandidate*>& candidates) {
  Table table({"#", "person", "grade", "score", "best record"});
  table.RightAlign(0).RightAlign(3);
  int n = 0;
  for (const id::MatchCandidate* c : candidates) {
    table.AddRow({absl::StrCat(++n), c->person_id(), GradeLabel(c->grade()),
                  FormatScore(c->score()), FormatSourceId(c->best_source_id())});
  }
  return table.Render();
}

std::string RenderCandidateExplanations(const std::vector<const id::MatchCandidate*>& candidates) {
  std::string out;
  int n = 0;
  for (const id::MatchCandidate* c : candidates) {
    absl::StrAppend(&out, "\ncandidate ", ++n, ": ", c->person_id(), " (", GradeLabel(c->grade()),
                    ", score ", FormatScore(c->score()), "), compared with ",
                    FormatSourceId(c->best_source_id()), "\n");
    if (c->has_explanation()) {
      absl::StrAppend(&out, RenderExplanation(c->explanation(), "  "));
    } else {
      absl::StrAppend(&out, "  (the server sent no explanation)\n");
    }
  }
  return out;
}

// --- Responses --------------------------------------------------------------------------------

std::string RenderRegister(const id::RegisterSourceRecordResponse& r, bool validate_only,
                           bool explain) {
  std::string out;
  if (validate_only) out += "dry run (--validate-only): nothing was stored\n";
  std::string record = RecordLabel(r.record());
  if (r.created()) record += " (first version)";
  if (r.stale()) record += " (stale: older than the current version, kept in history only)";
  const id::MatchDecision& d = r.decision();
  std::string person = !r.person_id().empty() ? r.person_id() : d.person_id();
  out += KeyValues({{"record", record},
                    {"outcome", OutcomeLabel(d.outcome())},
                    {"person", person},
                    {"review task", d.review_task_id()}});
  if (d.candidates_size() == 0) {
    out += "candidates: none\n";
  } else {
    std::vector<const id::MatchCandidate*> candidates;
    for (const id::MatchCandidate& c : d.candidates()) candidates.push_back(&c);
    absl::StrAppend(&out, "candidates:\n", RenderCandidates(candidates));
    if (explain) out += RenderCandidateExplanations(candidates);
  }
  return out;
}

std::string RenderResolve(const id::ResolveResponse& r) {
  std::string out =
      KeyValues({{"person", r.person_id()}, {"as of sequence", absl::StrCat(r.as_of_sequence())}});
  Table table({"org", "local id", "state", "method", "score", "linked"});
  table.RightAlign(4);
  for (const id::CrossReference& x : r.cross_references()) {
    bool scored = x.link().method() == id::LINK_METHOD_AUTO;
    table.AddRow({x.source_id().org(), x.source_id().local_id(), RecordStateLabel(x.state()),
                  MethodLabel(x.link().method()), scored ? FormatScore(x.link().score()) : "-",
                  FormatTime(x.link().create_time())});
  }
  absl::StrAppend(&out, "cross-references (", r.cross_references_size(), "):\n", table.Render());
  return out;
}

std::string RenderSearch(const id::SearchPersonsResponse& r, bool explain) {
  if (r.matches_size() == 0) return "no matching person\n";
  Table table({"#", "person", "grade", "score", "best record", "records"});
  table.RightAlign(0).RightAlign(3).RightAlign(5);
  int n = 0;
  for (const id::PersonMatch& m : r.matches()) {
    const id::MatchCandidate& c = m.candidate();
    table.AddRow({absl::StrCat(++n), c.person_id(), GradeLabel(c.grade()), FormatScore(c.score()),
                  FormatSourceId(c.best_source_id()), absl::StrCat(m.source_ids_size())});
  }
  std::string out = table.Render();
  if (!explain) return out;
  std::vector<const id::MatchCandidate*> candidates;
  for (const id::PersonMatch& m : r.matches()) candidates.push_back(&m.candidate());
  return out + RenderCandidateExplanations(candidates);
}

std::string RenderReviewList(const id::ListReviewTasksResponse& r) {
  if (r.tasks_size() == 0) return "no review tasks\n";
  Table table({"task", "state", "created", "grade", "score", "left", "right", "left person",
               "right person"});
  table.RightAlign(4);
  for (const id::ReviewTask& t : r.tasks()) {
    table.AddRow({t.task_id(), TaskStateLabel(t.state()), FormatTime(t.create_time()),
                  GradeLabel(t.explanation().grade()), FormatScore(t.explanation().total_score()),
                  FormatSourceId(t.left().source_id()), FormatSourceId(t.right().source_id()),
                  Dash(t.left_person_id()), Dash(t.right_person_id())});
  }
  std::string out = table.Render();
  absl::StrAppend(&out, r.tasks_size(), " shown of ", r.total_size(), "\n");
  if (!r.next_page_token().empty()) {
    absl::StrAppend(&out, "next page: --page-token=", r.next_page_token(), "\n");
  }
  return out;
}

std::string RenderReviewTask(const id::ReviewTask& t) {
  std::string out =
      KeyValues({{"task", t.task_id()},
                 {"state", TaskStateLabel(t.state())},
                 {"created", TimeOrEmpty(t.create_time())},
                 {"closed", TimeOrEmpty(t.close_time())},
                 {"resolved by", t.has_resolved_by() ? FormatActor(t.resolved_by()) : ""},
                 {"reason", t.resolution_reason()},
                 {"etag", t.etag()}});
  Table table({"", "left", "right"});
  auto row = [&](const std::string& label, const std::string& l, const std::string& r) {
    auto set = [](const std::string& v) { return !v.empty() && v != "-"; };
    if (set(l) || set(r)) table.AddRow({label, Dash(l), Dash(r)});
  };
  row("record", FormatSourceId(t.left().source_id()), FormatSourceId(t.right().source_id()));
  row("version", absl::StrCat(t.left().version()), absl::StrCat(t.right().version()));
  row("record state", RecordStateLabel(t.left().state()), RecordStateLabel(t.right().state()));
  row("person", t.left_person_id(), t.right_person_id());
  row("recorded", FormatTime(t.left().record_time()), FormatTime(t.right().record_time()));
  table.AddSeparator();
  auto left = DemographicRows(t.left().demographics());
  auto right = DemographicRows(t.right().demographics());
  for (size_t i = 0; i < left.size(); ++i) row(left[i].first, left[i].second, right[i].second);
  absl::StrAppend(&out, "\n", table.Render());
  if (t.has_explanation()) {
    absl::StrAppend(&out, "\nexplanation:\n", RenderExplanation(t.explanation(), "  "));
  }
  return out;
}

std::string RenderResolveReview(const id::ResolveReviewTaskResponse& r) {
  std::string out = KeyValues({{"task", r.task().task_id()},
                               {"state", TaskStateLabel(r.task().state())},
                               {"events", absl::StrJoin(r.event_ids(), ", ")}});
  for (const id::Person& p : r.persons()) out += PersonBlock("person", p);
  return out;
}

std::string RenderLink(const id::LinkRecordResponse& r) {
  std::string out = KeyValues({{"event", r.event_id()}});
  out += PersonBlock("linked to", r.person());
  if (r.has_previous_person()) out += PersonBlock("left", r.previous_person());
  return out;
}

std::string RenderUnlink(const id::UnlinkRecordResponse& r) {
  std::string out = KeyValues({{"event", r.event_id()}});
  out += PersonBlock("new person", r.new_person());
  out += PersonBlock("left", r.previous_person());
  return out;
}

std::string RenderMerge(const id::MergePersonsResponse& r) {
  std::string out = KeyValues({{"merge event", r.merge_event_id()}});
  out += PersonBlock("survivor", r.survivor());
  out += PersonBlock("merged", r.merged());
  absl::StrAppend(&out, "undo with: hiectl unmerge --event=", r.merge_event_id(),
                  " --reason=...\n");
  return out;
}

std::string RenderUnmerge(const id::UnmergePersonsResponse& r) {
  std::string out = KeyValues({{"event", r.event_id()}});
  out += PersonBlock("restored", r.restored());
  out += PersonBlock("survivor", r.survivor());
  return out;
}

std::string RenderPerson(const id::Person& p) {
  std::string out = KeyValues({{"person", p.person_id()},
                               {"state", PersonStateLabel(p.state())},
                               {"merged into", p.merged_into_person_id()},
                               {"created", TimeOrEmpty(p.create_time())},
                               {"updated", TimeOrEmpty(p.update_time())},
                               {"etag", p.etag()}});
  absl::StrAppend(&out, "links (", p.links_size(), "):\n");
  if (p.links_size() > 0) out += LinksTable(p.links(), "  ");
  if (p.has_golden_record()) {
    const id::GoldenRecord& g = p.golden_record();
    std::string computed = TimeOrEmpty(g.compute_time());
    absl::StrAppend(&out, "golden record",
                    computed.empty() ? "" : absl::StrCat(" (computed ", computed, ")"), ":\n");
    out += KeyValues(DemographicRows(g.demographics()), "  ");
    if (g.provenance_size() > 0) {
      Table table({"field", "value", "from record", "version", "rule"});
      table.RightAlign(3);
      for (const id::FieldProvenance& f : g.provenance()) {
        table.AddRow({f.field(), Dash(GoldenValue(g.demographics(), f.field())),
                      FormatSourceId(f.source_id()), absl::StrCat(f.record_version()),
                      Dash(f.rule())});
      }
      absl::StrAppend(&out, "provenance:\n", table.Render("  "));
    }
  }
  return out;
}

std::string RenderSourceRecord(const id::SourceRecord& r) {
  std::string out =
      KeyValues({{"record", FormatSourceId(r.source_id())},
                 {"version", absl::StrCat(r.version())},
                 {"state", RecordStateLabel(r.state())},
                 {"superseded by", r.has_superseded_by() ? FormatSourceId(r.superseded_by()) : ""},
                 {"person", r.person_id()},
                 {"event time", TimeOrEmpty(r.source_event_time())},
                 {"recorded", TimeOrEmpty(r.record_time())}});
  absl::StrAppend(&out, "demographics:\n", KeyValues(DemographicRows(r.demographics()), "  "));
  return out;
}

std::string RenderHistory(const id::GetHistoryResponse& r) {
  std::string out;
  if (r.state().has_person()) {
    const id::Person& p = r.state().person();
    out += PersonBlock("state then", p);
  } else if (r.state().has_record()) {
    const id::SourceRecord& rec = r.state().record();
    out += absl::StrCat("state then:\n", KeyValues({{"record", RecordLabel(rec)},
                                                    {"state", RecordStateLabel(rec.state())},
                                                    {"person", rec.person_id()}},
                                                   "  "));
  }
  Table table({"seq", "time", "type", "actor", "reason", "from -> to", "records", "event"});
  table.RightAlign(0);
  for (const id::IdentityEvent& e : r.events()) {
    std::string move;
    if (!e.from_person_id().empty() || !e.to_person_id().empty()) {
      move = absl::StrCat(Dash(e.from_person_id()), " -> ", Dash(e.to_person_id()));
    }
    std::vector<std::string> records;
    for (const cm::SourceId& s : e.source_ids()) records.push_back(FormatSourceId(s));
    std::string recs = absl::StrJoin(records, ", ");
    if (e.record_version() > 0) absl::StrAppend(&recs, " v", e.record_version());
    table.AddRow({absl::StrCat(e.sequence()), FormatTime(e.event_time()), EventTypeLabel(e.type()),
                  FormatActor(e.actor()), Dash(e.reason()), Dash(move), Dash(recs), e.event_id()});
  }
  absl::StrAppend(&out, "events (", r.events_size(), "):\n");
  if (r.events_size() > 0) out += table.Render();
  if (!r.next_page_token().empty()) {
    absl::StrAppend(&out, "next page: --page-token=", r.next_page_token(), "\n");
  }
  return out;
}

std::string RenderBulkRow(int line, const id::RegisterSourceRecordRequest& request,
                          const id::RegisterSourceRecordResponse& response) {
  const id::MatchDecision& d = response.decision();
  std::string person = !response.person_id().empty() ? response.person_id() : d.person_id();
  std::string out =
      absl::StrCat("line ", line, ": ", FormatSourceId(request.source_id()), " v",
                   response.record().version(), " ", OutcomeLabel(d.outcome()), " ", Dash(person));
  if (!d.review_task_id().empty()) absl::StrAppend(&out, " review task ", d.review_task_id());
  if (response.stale()) absl::StrAppend(&out, " (stale)");
  return out + "\n";
}

std::string RenderBulkSummary(const BulkSummary& s) {
  std::string out =
      absl::StrCat("rows ", s.rows, ", created ", s.created, ", new person ", s.new_person,
                   ", linked ", s.linked, ", review ", s.review, ", unchanged ", s.unchanged);
  if (s.stale > 0) absl::StrAppend(&out, ", stale ", s.stale);
  absl::StrAppend(&out, ", errors ", s.errors);
  if (s.not_sent > 0) absl::StrAppend(&out, ", not sent ", s.not_sent);
  return out + "\n";
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string TimeOrEmpty(const google::protobuf::Timestamp& time) {
  std::string text = FormatTime(time);
  return text == "-" ? "" : text;
}

}  // namespace hie::hiectl
