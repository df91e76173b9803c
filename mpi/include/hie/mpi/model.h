#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "hie/mpi/normalize.h"

namespace hie::mpi {

// Comparison fields of the Fellegi-Sunter model.
enum class Field : uint8_t {
  kGiven = 0, kFamily, kMiddle, kBirthDate, kSex, kAddress, kCity, kPostalCode, kState, kPhone,
  kSsn, kEmail,
};
inline constexpr int kNumFields = 12;
inline constexpr int kMaxLevels = 6;

// Level 0 of every field means "missing on either side" and always weighs 0. Level 1 is
// disagreement; higher levels are increasingly close agreement; the last level is exact.
const char* FieldName(Field field);
int NumLevels(Field field);  // including level 0
const char* LevelName(Field field, int level);

// Hard guards: reasons a pair must never be linked automatically (at most sent to review).
enum Guard : uint32_t {
  kGuardSsnConflict = 1u << 0,   // two valid US SSNs more than one typo apart
  kGuardTwin = 1u << 1,          // same birth date, different given names, and sexes
                                 // differ or family names agree (no identifier agreeing)
  kGuardJuniorSenior = 1u << 2,  // different suffixes recorded (JR / SR, II / III...)
  kGuardHousehold = 1u << 3,     // same family name, given names not alike and a different
                                 // sex or a birth date agreeing at most on the year (or, at
                                 // one home, similar or missing given names and disagreeing
                                 // birth dates)
  kGuardNamesake = 1u << 4,      // same given and family name, birth dates agreeing at
                                 // most on the year, every address and phone present on both
                                 // disagreeing (no SSN agreeing; an e-mail does not count)
  kGuardGeneration = 1u << 5,    // same name with birth years >= 15 apart (not a one-digit
                                 // typo of the year): a parent and child. With different
                                 // suffixes recorded too, two reasons (Decide: new)
};
// Deliberately not a guard: two records of one org with different local ids. Duplicate MRNs
// within one organisation are exactly what an MPI has to find.
std::string GuardNames(uint32_t guards);  // "ssn_conflict|twin", "" for none

// The comparison vector of a pair (one level per field) plus the guards it triggers.
struct Comparison {
  std::array<uint8_t, kNumFields> level{};
  uint32_t guards = 0;
  bool names_swapped = false;  // given and family names agreed only when exchanged
};

// Compares two normalised records. Symmetric: Compare(a, b) == Compare(b, a).
Comparison Compare(const NormalizedRecord& a, const NormalizedRecord& b);

// One field's contribution to a score.
struct FieldWeight {
  Field field;
  int level;
  double weight;            // log2(m/u), term-frequency adjusted where applicable
  bool tf_adjusted = false;
};

struct Explanation {
  double prior = 0;  // log2 prior odds of a match among candidate pairs
  std::vector<FieldWeight> fields;  // non-missing fields only
  uint32_t guards = 0;
  bool names_swapped = false;
  // Household fields (address, city, postal code, state, phone) are one piece of evidence
  // ("lives with" / "moved"), not five: their summed weight is clamped between the most negative
  // disagreement weight and the largest exact-agreement weight among them, or 10 bits when the
  // street addresses differ and the phones do not agree (same area, another home). This is the
  // correction the clamp applied.
  double location_cap_adjustment = 0;
  double total = 0;  // prior + sum of field weights + location_cap_adjustment
};

// Fellegi-Sunter parameters: m[f][l] = P(level l | match), u[f][l] = P(level l | non-match) for
// l >= 1 (each row sums to 1 over l >= 1), and lambda = share of matches among candidate pairs.
struct ModelParams {
  std::array<std::array<double, kMaxLevels>, kNumFields> m{};
  std::array<std::array<double, kMaxLevels>, kNumFields> u{};
  double lambda = 0.01;
};

// Scores pairs with a fixed set of parameters. Immutable after construction; thread-safe.
class Model {
 public:
  // Default starting parameters (before estimation): plausible m and u for each level.
  static ModelParams DefaultParams();

  explicit Model(const ModelParams& params);
  Model() : Model(DefaultParams()) {}

  const ModelParams& params() const { return params_; }
  double weight(Field f, int level) const { return weight_[static_cast<int>(f)][level]; }
  double prior() const { return prior_; }

  // Posterior log2 odds that a and b are one person: prior + sum of field weights, with term
  // frequency adjustment of exact agreement on given/family name, city and postal code using
  // the records' *_freq annotations (if set), and the household fields' sum clamped (see
  // Explanation::location_cap_adjustment). Symmetric in a and b.
  double Score(const NormalizedRecord& a, const NormalizedRecord& b, const Comparison& c) const;
  Explanation Explain(const NormalizedRecord& a, const NormalizedRecord& b,
                      const Comparison& c) const;

 private:
  double FieldWeightOf(const NormalizedRecord& a, const NormalizedRecord& b, int f, int level,
                       bool* tf) const;

  static bool IsLocationField(int f);
  // The upper clamp of the household fields' sum for this comparison: the largest exact weight of
  // those fields, or less for two different street addresses (kNeighbourhoodCap in model.cc).
  double LocationCap(const Comparison& c) const;

  ModelParams params_;
  std::array<std::array<double, kMaxLevels>, kNumFields> weight_{};
  double prior_ = 0;
  double location_cap_ = 0;
  double location_floor_ = 0;
};

// Stricter guards for online matching (MatchIndex), where a record is linked on its own and
// the link is not revisited as more records arrive (the batch linker instead checks whole
// clusters before merging them, and is measured without these). For two records with the same
// family name at one address or phone and no agreeing SSN or e-mail: given names not alike with
// the birth date missing on either side, or different sexes with given names that are similar
// but not equal and not one a nickname of the other (PATRICK / PATRICIA), or missing on one
// side. Returns
// kGuardHousehold for such a pair, 0 otherwise. `c` is Compare(a, b).
uint32_t OnlineGuards(const NormalizedRecord& a, const NormalizedRecord& b, const Comparison& c);

// Packs a comparison vector into an integer (3 bits per field) and back.
uint64_t PatternKey(const Comparison& c);
std::array<uint8_t, kNumFields> PatternLevels(uint64_t key);

struct PatternCount {
  uint64_t key;
  double count;
};

struct EmOptions {
  int max_iterations = 500;
  double tolerance = 1e-5;  // stop when no parameter moves more than this
  bool estimate_u = true;  // false: keep u (e.g. from random pairs) fixed
};
struct EmResult {
  int iterations = 0;
  bool converged = false;
};

// Expectation-maximisation of m (and lambda, and u if asked) from unlabelled comparison
// patterns, starting from `params`. Assumes conditional independence of the fields.
EmResult RunEm(const std::vector<PatternCount>& patterns, const EmOptions& options,
               ModelParams* params);

// Estimates u[f][l] from comparisons of random pairs (Laplace-smoothed).
void EstimateU(const std::vector<Comparison>& random_pairs, ModelParams* params);

// Value counts for term-frequency adjustment (given, family, city, postal code). Not
// thread-safe for writers; const methods may be called concurrently.
class FrequencyTable {
 public:
  void Add(const NormalizedRecord& r);
  void Remove(const NormalizedRecord& r);
  // Sets r->*_freq from the counts (a value seen 0 times counts as once).
  void Annotate(NormalizedRecord* r) const;
  int64_t total() const { return total_; }

 private:
  std::array<absl::flat_hash_map<std::string, int64_t>, 4> counts_;
  int64_t total_ = 0;
};

}  // namespace hie::mpi

namespace hie::mpi {

// What to do with a candidate: link automatically, ask a person, or treat as a new identity.
enum class Decision : uint8_t { kNew = 0, kReview, kAutoLink };
const char* DecisionName(Decision d);  // "new", "review", "auto_link"

// Thresholds on the posterior log2 odds (Model::Score, whose prior is the probability that two
// random records match). The defaults correspond to posterior match probabilities of about
// 0.94 (auto-link) and 0.5 (review); guards and the cluster check add safety on top.
struct Thresholds {
  double auto_link = 4.0;
  double review = 0.0;
  // Two auto-link candidates closer than this (bits) are ambiguous: both go to review.
  double margin = 3.0;
};

// The decision for one pair given its score and guards. A guarded pair is never linked
// automatically: with one guard it goes to review when its score reaches `review` (every true
// pair a guard stops must reach a person); with two (a twin in the same household, an SSN
// conflict and a Jr/Sr suffix, Jr/Sr suffixes on birth years a generation apart...) it is new,
// no review task: on the generated populations such
// pairs were never one person, and they were a third of the reviewers' work.
Decision Decide(double score, uint32_t guards, const Thresholds& t);

}  // namespace hie::mpi
