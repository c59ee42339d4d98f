"""Output tables and figures of 03_voice: survey metrics and trend, competitor benchmark,
sentiment and its calibration, themes, experience curve, key drivers, segments and personas.

Survey metrics, trend, benchmark, experience curve and key drivers are computed at
03_voice's ``alpha`` (their intervals at 1 - alpha, their ``alpha`` column says which);
sentiment agreement, themes and personas use fixed 95% intervals.
"""

from __future__ import annotations

from cjmlib.core.schema._spec import FigureSpec, TableSpec, columns

_SURVEY_METRICS = columns("""
n | int | responses of the group with at least one score (CSAT, NPS or CES)
csat_mean | float | mean CSAT, 1-5
csat_ci_low | float | lower bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale (within 1-5, never of zero width; Rao's score test over the scale's points)
csat_ci_high | float | upper bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale
top2box | float | share of CSAT answers of 4 or 5, 0-1 (denominator: n_csat)
nps | float | Net Promoter Score, -100..100: % promoters (9-10) minus % detractors (0-6)
nps_ci_low | float | lower bound of the score interval at 1 - alpha of nps (Rocks 2016), within -100..100, never of zero width
nps_ci_high | float | upper bound of the score interval at 1 - alpha of nps, within -100..100
ces_mean | float | mean customer effort, 1-7
n_csat | int | CSAT answers: the denominator of csat_mean and top2box
top2box_ci_low | float | lower bound of the Wilson interval at 1 - alpha of top2box
top2box_ci_high | float | upper bound of the Wilson interval at 1 - alpha of top2box
n_nps | int | NPS answers: the denominator of nps
promoters | float | share of NPS answers of 9-10, 0-1
passives | float | share of NPS answers of 7-8, 0-1
detractors | float | share of NPS answers of 0-6, 0-1
nps_se | float | standard error of nps, NPS points
n_ces | int | CES answers: the denominator of ces_mean
ces_ci_low | float | lower bound of the score interval at 1 - alpha of ces_mean on the 1-7 scale (within 1-7, never of zero width)
ces_ci_high | float | upper bound of the score interval at 1 - alpha of ces_mean on the 1-7 scale
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")

_DRIVERS = columns("""
outcome | string | outcome explained: overall_nps, overall_csat (the relationship survey's overall answers) or churned (0/1, a linear probability model)
driver | string | a touchpoint item of the relationship survey (its CSAT score)
importance | float | R^2 accounted for by the driver (Shapley/LMG or relative weights: the notebook's driver_method), 0-1
importance_ci_low | float | lower bound of the bootstrap percentile interval at 1 - alpha of importance (n_boot resamples of respondents)
importance_ci_high | float | upper bound of the bootstrap percentile interval at 1 - alpha of importance
share | float | importance / R^2: share of the explained variance, 0-1
share_ci_low | float | lower bound of the bootstrap percentile interval at 1 - alpha of share
share_ci_high | float | upper bound of the bootstrap percentile interval at 1 - alpha of share
rank | int | 1 = most important driver of the outcome
rank_stability | float | share of bootstrap samples in which the driver kept that rank, 0-1
correlation | float | Pearson correlation of the driver with the outcome
performance | float | mean item score of the driver, CSAT 1-5
performance_ci_low | float | lower bound of the Student-t interval at 1 - alpha of performance
performance_ci_high | float | upper bound of the Student-t interval at 1 - alpha of performance
""")

TABLES: tuple[TableSpec, ...] = (
    TableSpec("survey_metrics", "voice", "voice_survey_metrics",
              "CSAT, top-2-box, NPS and CES of the post-interaction survey per touchpoint, "
              "stage, channel and segment (persona), each with its n and interval; groups with "
              "fewer than min_n scored responses are left out "
              "(cjmlib.voice.surveys.survey_metrics).", columns("""
level | string | grouping: touchpoint, stage, channel or segment (the persona_name of the segments table)
group | string | the touchpoint, stage, channel or persona name
""") + _SURVEY_METRICS),
    TableSpec("survey_trend", "voice", "voice_survey_trend",
              "The survey metrics of all post-interaction answers per period (the notebook's "
              "trend_freq: week, month or quarter) (cjmlib.voice.surveys.survey_trend).",
              columns("""
period | timestamp | start of the period, UTC
level | string | all
group | string | all
""") + _SURVEY_METRICS),
    TableSpec("benchmark", "voice", "voice_benchmark",
              "Our brand against each competitor in the market benchmark survey, per touchpoint "
              "and overall, with the significance of each gap; written only when the feedback "
              "has brand values (cjmlib.voice.surveys.benchmark).", columns("""
level | string | touchpoint, or overall
group | string | the touchpoint, or overall
brand | string | brand rated
is_ours | bool | the brand is ours (the notebook's our_brand)
n_csat | int | CSAT answers for the brand
csat_mean | float | mean CSAT, 1-5
csat_ci_low | float | lower bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale (within 1-5, never of zero width; Rao's score test over the scale's points)
csat_ci_high | float | upper bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale
n_nps | int | NPS answers for the brand (one per respondent; 0 on touchpoint rows when NPS is asked once per respondent)
nps | float | NPS, -100..100
nps_ci_low | float | lower bound of the score interval at 1 - alpha of nps (Rocks 2016), within -100..100
nps_ci_high | float | upper bound of the score interval at 1 - alpha of nps
csat_gap | float | our csat_mean minus this competitor's, CSAT points (negative: we are behind); null on our rows
csat_gap_ci_low | float | lower bound of the Welch interval at 1 - alpha of csat_gap
csat_gap_ci_high | float | upper bound of the Welch interval at 1 - alpha of csat_gap
csat_gap_p_value | float | Welch t-test of csat_gap = 0 (statsmodels CompareMeans, unequal variances)
csat_gap_p_adjusted | float | csat_gap_p_value, Holm-adjusted over all CSAT gaps of the table
nps_gap | float | our nps minus this competitor's, NPS points; null on our rows
nps_gap_ci_low | float | lower bound of the normal interval at 1 - alpha of nps_gap (independent samples)
nps_gap_ci_high | float | upper bound of the normal interval at 1 - alpha of nps_gap
nps_gap_p_value | float | z-test of nps_gap = 0
nps_gap_p_adjusted | float | nps_gap_p_value, Holm-adjusted over all NPS gaps of the table
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("sentiment", "voice", "voice_sentiment",
              "One row per comment (post-interaction and social feedback, interview turns) with "
              "its sentiment and the calibrated CSAT (cjmlib.voice.sentiment.score_sentiment).",
              columns("""
response_id | string | id of the answer within its source
customer_id | string | stitched customer key; null for anonymous comments
survey | string | post_interaction, social or interview
response_time | timestamp | when the answer was given, UTC
touchpoint | string | touchpoint the comment is about; null when none
stage | string | journey stage of the comment
channel | string | channel of the answer
language | string | language given by the source
sentiment_language | string | language the comment was scored in (given or detected)
sentiment_scorer | string | what produced sentiment: the default scorer (vader+en-reviews-model, zh-lexicon+zh-reviews-model) or own-model(csat)+<default> where the model learned from this data's rated comments beat it (voice_sentiment_scorers); null when not scored
sentiment_status | string | scored, no_text, unsupported_language, unknown_language or not_scorable
sentiment | float | sentiment of the comment, -1..1 (negative to positive); null when not scored; a rated comment scored by the own model carries its out-of-fold score
sentiment_default | float? | the default scorer's sentiment (present when the own-model step ran)
csat | float | the CSAT (1-5) given with the comment; null when none
csat_calibrated | float | sentiment mapped onto the CSAT scale (1-5) by the language's isotonic calibration; null without sentiment or calibration
text | string | the comment (one customer turn for interviews): raw customer words, redact before showing
"""), free_text=("text",)),
    TableSpec("sentiment_agreement", "voice", "voice_sentiment_agreement",
              "How well sentiment agrees with the CSAT given with the same post-interaction "
              "comment, per language and (with several languages) all "
              "(cjmlib.voice.sentiment.calibrate_sentiment).", columns("""
language | string | language of the comments, or all
scorer | string | the scorer(s) that produced the sentiment compared (sentiment_scorer)
n | int | comments with both a sentiment and a CSAT score
spearman_rho | float | Spearman rank correlation of sentiment and CSAT
spearman_ci_low | float | lower bound of the 95% Fisher-z interval of spearman_rho (Bonett & Wright 2000 variance)
spearman_ci_high | float | upper bound of the 95% Fisher-z interval of spearman_rho
polarity_accuracy | float | share of comments whose sentiment polarity (negative, neutral, positive) equals the CSAT polarity (1-2, 3, 4-5), 0-1
polarity_accuracy_ci_low | float | lower bound of the 95% Wilson interval of polarity_accuracy
polarity_accuracy_ci_high | float | upper bound of the 95% Wilson interval of polarity_accuracy
cohen_kappa | float | Cohen's kappa of the two polarities
cohen_kappa_ci_low | float | lower bound of the asymptotic 95% interval of cohen_kappa (statsmodels cohens_kappa)
cohen_kappa_ci_high | float | upper bound of the asymptotic 95% interval of cohen_kappa
mae_calibrated | float | mean absolute error of csat_calibrated, CSAT points, by 5-fold cross-validation; null for all and for languages with fewer than 20 comments
calibrated | bool | an isotonic calibration was fitted for the language
""")),
    TableSpec("sentiment_scorers", "voice", "voice_sentiment_scorers",
              "Which scorer produced each language's sentiment, and how well the default "
              "scorer and the model learned from this data's rated comments tell CSAT 4-5 "
              "from CSAT 1-2 by cross-validation (cjmlib.voice.learning.learn_sentiment).",
              columns("""
language | string | language of the comments (sentiment_language)
rated | int? | post-interaction comments of the language with a sentiment and a CSAT of 1-2 or 4-5
positive | int? | of them with CSAT 4-5
negative | int? | of them with CSAT 1-2
auc_default | float? | AUC of the default scorer's sentiment for CSAT 4-5 vs 1-2 on the rated comments, 0-1
auc_default_ci_low | float? | lower bound of the 95% percentile bootstrap interval of auc_default
auc_default_ci_high | float? | upper bound of the 95% percentile bootstrap interval of auc_default
auc_own | float? | AUC of the own model (default sentiment plus weight times the n-gram model's log-odds), out-of-fold by 5-fold cross-validation
auc_own_ci_low | float? | lower bound of the 95% percentile bootstrap interval of auc_own
auc_own_ci_high | float? | upper bound of the 95% percentile bootstrap interval of auc_own
auc_gain | float? | auc_own - auc_default
auc_gain_ci_low | float? | lower bound of the paired 95% bootstrap interval of auc_gain
auc_gain_ci_high | float? | upper bound of the paired 95% bootstrap interval of auc_gain
weight | float? | weight of the own model's log-odds, chosen on the out-of-fold predictions
used | string | the scorer the language's sentiment comes from (sentiment_scorer)
reason | string? | why the own model is not used (too few rated comments, or no gain)
""")),
    TableSpec("topics", "voice", "voice_topics",
              "Topics of the post-interaction comments per touchpoint, language and polarity: "
              "NMF of TF-IDF terms named by class-based TF-IDF, with typical quotes "
              "(cjmlib.voice.topics.topics).", columns("""
level | string | touchpoint
group | string | the touchpoint
language | string | language of the comments
polarity | string | negative or positive (CSAT 1-2 / 4-5, else the sign of sentiment)
topic | int | 1 = the largest topic of the group, language and polarity
n_topics | int | topics fitted for the group, language and polarity
terms | string | the topic's terms of largest c-TF-IDF, comma-separated
n_comments | int | comments assigned to the topic
n_group | int | comments of the group, language and polarity: the denominator of share
share | float | n_comments / n_group, 0-1
share_ci_low | float | lower bound of the 95% Wilson interval of share
share_ci_high | float | upper bound of the 95% Wilson interval of share
quotes | string | the topic's most typical comments, redacted, joined by a vertical bar
"""), free_text=("quotes",)),
    TableSpec("themes", "voice", "voice_themes",
              "Words and phrases that set negative comments apart from positive ones, per "
              "touchpoint, stage and overall, language and direction (weighted log-odds with "
              "an informative Dirichlet prior, Monroe et al. 2008; cjmlib.voice.themes.themes).",
              columns("""
level | string | touchpoint, stage or all
group | string | the touchpoint or stage, or all
language | string | language of the comments (und when undetermined)
direction | string | negative (more frequent in negative comments) or positive
rank | int | 1 = strongest term of the group, language and direction (the notebook's theme_top terms)
term | string | word or two-word phrase
n_docs | int | comments of that direction containing the term
n_comments | int | comments of that direction in the group and language: the denominator of share
share | float | n_docs / n_comments, 0-1
share_ci_low | float | lower bound of the 95% Wilson interval of share
share_ci_high | float | upper bound of the 95% Wilson interval of share
compared_with | string | group (the opposite comments of the group) or all groups (of the language, when the group has fewer than 30)
n_reference | int | opposite comments compared with
share_reference | float | share of them containing the term, 0-1
log_odds_ratio | float | prior-smoothed log-odds ratio, negative versus positive comments (positive for negative themes)
z | float | log_odds_ratio over its standard error, > 0: strength of the term for its direction
examples | string | up to two comments containing the term, most frequent first, joined by a vertical bar (raw customer words)
"""), free_text=("examples",)),
    TableSpec("experience_curve", "voice", "voice_experience_curve",
              "Emotion per journey stage from the post-interaction and interview feedback: CSAT "
              "rescaled and comment sentiment combined (cjmlib.voice.surveys.experience_curve).",
              columns("""
stage | string | journey stage
order | int | position of the stage in configs/journey.yaml, from 1
n | int | responses with an emotion
emotion | float | mean emotion, -1..1: per response the mean of (csat - 3) / 2 and its sentiment
emotion_ci_low | float | lower bound of the Student-t interval at 1 - alpha of emotion
emotion_ci_high | float | upper bound of the Student-t interval at 1 - alpha of emotion
n_csat | int | responses with a CSAT score
csat_mean | float | mean CSAT, 1-5
csat_ci_low | float | lower bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale (within 1-5, never of zero width; Rao's score test over the scale's points)
csat_ci_high | float | upper bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale
n_sentiment | int | responses with a sentiment
sentiment_mean | float | mean sentiment, -1..1
sentiment_ci_low | float | lower bound of the Student-t interval at 1 - alpha of sentiment_mean
sentiment_ci_high | float | upper bound of the Student-t interval at 1 - alpha of sentiment_mean
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("drivers", "voice", "voice_drivers",
              "Key-driver analysis: which touchpoint satisfactions explain the overall answers "
              "and churn, one block of rows per outcome (cjmlib.voice.drivers.key_drivers).",
              _DRIVERS + columns("""
method | string | shapley (Shapley/LMG decomposition of R^2) or relative_weights (Johnson 2000)
n | int | respondents with every driver and the outcome (listwise complete)
r2 | float | R^2 of the linear regression of the outcome on all drivers, 0-1
r2_ci_low | float | lower bound of the bootstrap percentile interval at 1 - alpha of r2
r2_ci_high | float | upper bound of the bootstrap percentile interval at 1 - alpha of r2
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("drivers_importance_performance", "voice", "voice_drivers_importance_performance",
              "The drivers in the importance-performance grid (Martilla & James 1977), "
              "importance as share of R^2 (cjmlib.voice.drivers.importance_performance).",
              _DRIVERS + columns("""
importance_cut | float | 1 / number of drivers: the importance split (on share)
performance_cut | float | mean performance over the drivers: the performance split
quadrant | string | concentrate here, keep up the good work, low priority or possible overkill
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("k_selection", "voice", "voice_k_selection",
              "Silhouette and stability of k-means for each number of segments k; the chosen k "
              "has the best silhouette among the stable ones (cjmlib.voice.segments.choose_k).",
              columns("""
k | int | number of segments
silhouette | float | mean silhouette (Rousseeuw 1987), -1..1, averaged over the seeds
silhouette_sd | float | standard deviation of the silhouette over the seeds
stability | float | mean adjusted Rand index between the assignments of every pair of seeds fitted on 80% subsamples, 1 = identical
stability_min | float | smallest of those adjusted Rand indices
inertia | float | within-segment sum of squares of the full-data fit per customer, squared z units
chosen | bool | this k was chosen (unless the notebook's k is given)
""")),
    TableSpec("segments", "voice", "voice_segments",
              "The segment of each segmented customer (customers with the notebook's "
              "segment_population_col), for breakdowns in other notebooks "
              "(cjmlib.voice.segments.segment_customers).", columns("""
customer_id | string | stitched customer key
persona | int | segment number, 1 = largest
persona_name | string | number and defining traits, e.g. "1: high research share, high e-mail open rate"
""")),
    TableSpec("personas", "voice", "voice_personas",
              "One persona card per segment: size, traits, typical journey, distinctive "
              "touchpoints, pain points, satisfaction, churn and quotes "
              "(cjmlib.voice.segments.persona_cards).", columns("""
persona | int | segment number, 1 = largest
name | string | persona name (as persona_name of the segments table)
customers | int | customers in the segment
share | float | customers / all segmented customers, 0-1
share_ci_low | float | lower bound of the 95% Wilson interval of share
share_ci_high | float | upper bound of the 95% Wilson interval of share
traits | string | the three most distinctive features: segment mean vs all customers with its z-score, joined by "; "
typical_journey | string | the segment's most frequent session path (at most 6 steps, " > " between touchpoints)
typical_journey_share | float | share of the segment's sessions following it, 0-1
typical_journey_share_ci_low | float | lower bound of the 95% Wilson interval of typical_journey_share
typical_journey_share_ci_high | float | upper bound of the 95% Wilson interval of typical_journey_share
n_sessions | int | sessions of the segment: the denominator of typical_journey_share
distinctive_touchpoints | string | touchpoints reached by a larger share of the segment than of all customers, as "touchpoint (x% of n vs y% of N)"
pain_points | string | the three touchpoints with the lowest post-interaction CSAT among those with at least 10 answers, with CSAT and n
n_csat | int | post-interaction CSAT answers of the segment's customers
csat_mean | float | their mean CSAT, 1-5
csat_ci_low | float | lower bound of the 95% score interval of csat_mean on the 1-5 scale
csat_ci_high | float | upper bound of the 95% score interval of csat_mean on the 1-5 scale
n_nps | int | post-interaction NPS answers of the segment's customers
nps | float | their NPS, -100..100
nps_ci_low | float | lower bound of the 95% score interval of nps (Rocks 2016), within -100..100
nps_ci_high | float | upper bound of the 95% score interval of nps
quotes | string | two frequent negative comments and one positive one of the segment's customers, quoted, joined by a vertical bar (raw customer words)
n_churn_known | int? | customers of the segment with a known churn flag (with the notebook's churn_col)
churn_rate | float? | share of them who churned, 0-1
churn_rate_ci_low | float? | lower bound of the 95% Wilson interval of churn_rate
churn_rate_ci_high | float? | upper bound of the 95% Wilson interval of churn_rate
"""), free_text=("quotes",), patterns=(("mean_<feature>", "segment mean of each clustering feature (the notebook's "
                  "segment_features) in its original units"),)),
    TableSpec("persona_agreement", "voice", "voice_persona_agreement",
              "One row: agreement of the segments with known customer types (the notebook's "
              "labels_file); written only when that file exists "
              "(cjmlib.voice.segments.label_agreement).", columns("""
ari | float | adjusted Rand index (Hubert & Arabie 1985): 0 = chance, 1 = identical
ami | float | adjusted mutual information (Vinh, Epps & Bailey 2010)
n | int | customers with both a segment and a known type
k | int | number of segments used
seed | int | seed of the clustering
""")),
)

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("voice_survey_touchpoints", "voice",
               "CSAT and NPS per touchpoint as points with 95% interval bars, lowest CSAT at "
               "the bottom and the worst touchpoint highlighted."),
    FigureSpec("voice_survey_trend", "voice",
               "CSAT and NPS per period as lines with 95% bands."),
    FigureSpec("voice_benchmark", "voice",
               "CSAT per touchpoint for our brand and each competitor as points with 95% "
               "interval bars; a star marks a gap to ours that is significant after Holm "
               "adjustment."),
    FigureSpec("voice_sentiment_calibration", "voice",
               "Mean comment sentiment for each CSAT score given with it, per language, as "
               "points with 95% interval bars."),
    FigureSpec("voice_themes_worst_touchpoint", "voice",
               "Share of the negative comments about the lowest-CSAT touchpoint that mention "
               "each theme term, one panel per language, with 95% interval bars."),
    FigureSpec("voice_experience_curve", "voice",
               "Emotion per journey stage as a line with its 95% band, beside rescaled CSAT and "
               "comment sentiment."),
    FigureSpec("voice_drivers_*", "voice",
               "For the first driver outcome (the star: its name, e.g. overall_nps), each "
               "touchpoint's share of the explained variance as bars with bootstrap 95% "
               "intervals."),
    FigureSpec("voice_importance_performance_*", "voice",
               "For the first driver outcome (the star), each touchpoint placed by importance "
               "and mean satisfaction with interval bars on both, in the four quadrants."),
    FigureSpec("voice_k_selection", "voice",
               "Silhouette (with bars of plus or minus one standard deviation over seeds) and "
               "stability per number of segments, the chosen number marked."),
    FigureSpec("voice_persona_profiles", "voice",
               "Heat map of each segment's feature means (colour: standard deviations from all "
               "customers, cell: the mean); no intervals."),
)
