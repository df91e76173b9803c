#include "services/identity/core/mpi_matcher.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "hie/mpi/blocking.h"
#include "hie/mpi/model_params_file.h"
#include "services/common/demographics.h"
#include "services/identity/core/identifiers.h"
#include "services/identity/store/identity_store.h"

namespace hie::identity {
namespace {

namespace v1 = ::hie::identity::v1;
using ::hie::common::v1::Demographics;

SourceId SourceIdOfKey(const std::string& key) {
  SourceId id;
  size_t sep = key.find('\x1f');
  id.set_org(key.substr(0, sep));
  if (sep != std::string::npos) id.set_local_id(key.substr(sep + 1));
  return id;
}

const char* ComparatorOf(hie::mpi::Field field) {
  switch (field) {
    case hie::mpi::Field::kGiven:
    case hie::mpi::Field::kFamily:
    case hie::mpi::Field::kMiddle:
      return "name";
    case hie::mpi::Field::kBirthDate:
      return "date";
    case hie::mpi::Field::kAddress:
      return "address_tokens";
    case hie::mpi::Field::kPhone:
    case hie::mpi::Field::kSsn:
      return "digits";
    default:
      return "exact";
  }
}

v1::ComparisonLevel LevelOf(hie::mpi::Field field, int level) {
  int top = hie::mpi::NumLevels(field) - 1;
  if (level <= 0) return v1::COMPARISON_LEVEL_MISSING;
  if (level == 1) return v1::COMPARISON_LEVEL_DIFFERENT;
  if (level == top) return v1::COMPARISON_LEVEL_EXACT;
  if (level == top - 1) return v1::COMPARISON_LEVEL_CLOSE;
  return v1::COMPARISON_LEVEL_PARTIAL;
}

}  // namespace

hie::mpi::Record ToEngineRecord(const SourceId& id, const Demographics& d) {
  hie::mpi::Record r;
  r.record_id = RecordKey(id);
  r.org = id.org();
  r.local_id = id.local_id();
  r.given_name = d.name().given();
  r.middle_name = d.name().middle();
  r.family_name = d.name().family();
  r.sex = std::string(hie::SexCode(d.sex()));  // the engine reads F and M; others are unknown
  r.birth_date = d.birth_date();
  if (d.addresses_size() > 0) {
    const auto& a = d.addresses(0);
    for (const std::string& line : a.lines()) {
      if (!r.address_line.empty()) r.address_line += ' ';
      r.address_line += line;
    }
    r.city = a.city();
    r.state = a.state();
    r.postal_code = a.postal_code();
  }
  if (d.phones_size() > 0) r.phone = d.phones(0).value();
  if (d.emails_size() > 0) r.email = d.emails(0).value();
  for (const auto& identifier : d.identifiers()) {
    if (identifier.system() == hie::kUsSsnSystem ||
        identifier.type() == hie::common::v1::Identifier::TYPE_NATIONAL_ID) {
      r.ssn = identifier.value();
      break;
    }
  }
  return r;
}

namespace {

std::string ModelVersion(const hie::mpi::ModelParams& params) {
  const std::string text = hie::mpi::FormatModelParams(params);
  if (text == hie::mpi::FormatModelParams(hie::mpi::Model::DefaultParams())) {
    return "mpi-fs-1/default";
  }
  uint64_t hash = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return absl::StrFormat("mpi-fs-1/params-%08x", hash >> 32);
}

// What MpiMatcher::Prepare makes: the record normalised, with its id.
struct MpiPreparedRecord : PreparedRecord {
  MpiPreparedRecord(const SourceId& id, hie::mpi::NormalizedRecord normalized)
      : id(id),
        key(RecordKey(id)),
        self(id.org().empty() && id.local_id().empty() ? "" : key),
        normalized(std::move(normalized)) {}

  const SourceId id;
  const std::string key;   // the engine's record_id
  const std::string self;  // what a query skips: key, or "" for a record without an id
  const hie::mpi::NormalizedRecord normalized;
};

const MpiPreparedRecord& Own(const PreparedRecord& record) {
  const auto* own = dynamic_cast<const MpiPreparedRecord*>(&record);
  if (own == nullptr) {
    std::fprintf(stderr, "MpiMatcher: a PreparedRecord made by another Matcher\n");
    std::abort();
  }
  return *own;
}

}  // namespace

MpiMatcher::MpiMatcher(const hie::mpi::ModelParams& params,
                       const hie::mpi::NicknameTable* nicknames,
                       hie::mpi::MatchIndexOptions options)
    : model_version_(ModelVersion(params)),
      options_(options),
      model_(params),
      index_(params, nicknames, options) {}

v1::MatchGrade MpiMatcher::GradeOf(double score, hie::mpi::Decision decision) const {
  switch (decision) {
    case hie::mpi::Decision::kAutoLink:
      return v1::MATCH_GRADE_CERTAIN;
    case hie::mpi::Decision::kReview: {
      double middle = (options_.thresholds.auto_link + options_.thresholds.review) / 2;
      return score >= middle ? v1::MATCH_GRADE_PROBABLE : v1::MATCH_GRADE_POSSIBLE;
    }
    case hie::mpi::Decision::kNew:
      break;
  }
  return v1::MATCH_GRADE_UNSPECIFIED;
}

v1::MatchExplanation MpiMatcher::ToProto(const hie::mpi::Explanation& e, double score,
                                         v1::MatchGrade grade) const {
  v1::MatchExplanation out;
  out.set_total_score(score);
  out.set_grade(grade);
  out.set_upper_threshold(options_.thresholds.auto_link);
  out.set_lower_threshold(options_.thresholds.review);
  out.set_model_version(model_version_);
  std::vector<hie::mpi::FieldWeight> fields = e.fields;
  std::sort(fields.begin(), fields.end(),
            [](const auto& a, const auto& b) { return std::abs(a.weight) > std::abs(b.weight); });
  for (const auto& f : fields) {
    v1::FieldComparison* c = out.add_fields();
    c->set_field(hie::mpi::FieldName(f.field));
    c->set_level(LevelOf(f.field, f.level));
    c->set_weight(f.weight);
    c->set_comparator(ComparatorOf(f.field));
    c->set_note(absl::StrCat(
        hie::mpi::LevelName(f.field, f.level), f.tf_adjusted ? ",frequency_adjusted" : "",
        e.names_swapped &&
                (f.field == hie::mpi::Field::kGiven || f.field == hie::mpi::Field::kFamily)
            ? ",names_swapped"
            : ""));
  }
  // The prior and the household cap are part of the total: show them so the rows add up.
  v1::FieldComparison* prior = out.add_fields();
  prior->set_field("prior");
  prior->set_weight(e.prior);
  prior->set_comparator("model");
  prior->set_note("log2 prior odds of a match");
  if (e.location_cap_adjustment != 0) {
    v1::FieldComparison* cap = out.add_fields();
    cap->set_field("household_cap");
    cap->set_weight(e.location_cap_adjustment);
    cap->set_comparator("model");
    cap->set_note(
        "address, city, postal code, state and phone count as one piece of evidence; another "
        "street address in the same area counts at most 10 bits");
  }
  auto add_guard = [&](uint32_t bit, v1::GuardResult::Kind kind, const char* field) {
    if ((e.guards & bit) == 0) return;
    v1::GuardResult* g = out.add_guards();
    g->set_kind(kind);
    g->set_field(field);
  };
  add_guard(hie::mpi::kGuardSsnConflict, v1::GuardResult::KIND_CONFLICTING_IDENTIFIER, "ssn");
  add_guard(hie::mpi::kGuardTwin, v1::GuardResult::KIND_TWINS, "birth_date");
  add_guard(hie::mpi::kGuardJuniorSenior, v1::GuardResult::KIND_GENERATIONAL_SUFFIX, "name");
  // A parent and child of one name: the same kind, shown on the birth date that tells them apart.
  add_guard(hie::mpi::kGuardGeneration, v1::GuardResult::KIND_GENERATIONAL_SUFFIX, "birth_date");
  add_guard(hie::mpi::kGuardHousehold, v1::GuardResult::KIND_HOUSEHOLD, "given_name");
  add_guard(hie::mpi::kGuardNamesake, v1::GuardResult::KIND_NAMESAKE, "birth_date");
  return out;
}

std::shared_ptr<const PreparedRecord> MpiMatcher::Prepare(const SourceId& id,
                                                          const Demographics& demographics) const {
  return std::make_shared<const MpiPreparedRecord>(
      id, index_.Normalize(ToEngineRecord(id, demographics)));
}

std::vector<RecordMatch> MpiMatcher::Match(const PreparedRecord& query, int limit) const {
  const MpiPreparedRecord& q = Own(query);
  std::vector<RecordMatch> out;
  for (hie::mpi::MatchCandidate& c : index_.Match(q.self, q.normalized, limit)) {
    v1::MatchGrade grade = GradeOf(c.score, c.decision);
    if (grade == v1::MATCH_GRADE_UNSPECIFIED) continue;
    RecordMatch m;
    m.source_id = SourceIdOfKey(c.record_id);
    m.score = c.score;
    m.grade = grade;
    m.explanation = ToProto(c.explanation, c.score, grade);
    out.push_back(std::move(m));
  }
  return out;
}

RecordMatch MpiMatcher::Compare(const PreparedRecord& a, const PreparedRecord& b) const {
  return CompareNormalized(Own(a).normalized, Own(b).normalized, Own(b).id);
}

std::optional<RecordMatch> MpiMatcher::CompareIndexed(const PreparedRecord& a,
                                                      const SourceId& b) const {
  std::optional<hie::mpi::NormalizedRecord> indexed = index_.Find(RecordKey(b));
  if (!indexed.has_value()) return std::nullopt;
  return CompareNormalized(Own(a).normalized, *indexed, b);
}

RecordMatch MpiMatcher::CompareNormalized(const hie::mpi::NormalizedRecord& a,
                                          const hie::mpi::NormalizedRecord& b,
                                          const SourceId& b_id) const {
  hie::mpi::Comparison comparison = hie::mpi::CompareOnline(a, b);  // as MatchIndex compares
  hie::mpi::Explanation explanation = model_.Explain(a, b, comparison);
  double score = explanation.total;
  hie::mpi::Decision decision = hie::mpi::Decide(score, comparison.guards, options_.thresholds);
  RecordMatch m;
  m.source_id = b_id;
  m.score = score;
  m.grade = GradeOf(score, decision);
  m.explanation = ToProto(explanation, score, m.grade);
  return m;
}

absl::Status MpiMatcher::Upsert(const PreparedRecord& record) {
  const MpiPreparedRecord& r = Own(record);
  return index_.Upsert(r.key, r.normalized);
}

absl::Status MpiMatcher::Remove(const SourceId& id) {
  absl::Status status = index_.Remove(RecordKey(id));
  return status.code() == absl::StatusCode::kNotFound ? absl::OkStatus() : status;
}

std::vector<std::string> MpiMatcher::LockKeys(const PreparedRecord& record) const {
  std::vector<uint64_t> keys;
  hie::mpi::AppendBlockKeys(Own(record).normalized, &keys);
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (uint64_t key : keys) out.push_back(absl::StrCat("block:", key));
  return out;
}

}  // namespace hie::identity
