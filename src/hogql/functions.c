/*
 * functions.c — the HogQL function allow-list (spec §7.3): name → arity,
 * parameter count (quantile(0.9)(x)), aggregate/window flags and a coarse
 * result type the resolver uses for inference.
 *
 * The table is static, sorted by name and searched by binary search; the
 * SQL-standard names PostHog treats case-insensitively (count, sum, if, ...)
 * fall back to a linear case-insensitive scan. Aggregate combinators
 * (sumIf, uniqArray, countOrNull, sumIfState, uniqMerge ...) are derived from
 * the base aggregate, peeled off from the right as ClickHouse reads them: -If
 * adds one argument, -Merge takes exactly one (the state), the others keep
 * the arity.
 *
 * Rejected alternative: a hash table built at start-up. 460 entries are
 * 9 probes by bisection; nothing to initialise, nothing to free, and the
 * table stays const data shared by every thread.
 */
#include <string.h>
#include <strings.h>

#include "hogql/hogql.h"

#define F_AGG	    SN_HQF_AGGREGATE
#define F_WINDOW    SN_HQF_WINDOW
#define F_CI	    SN_HQF_CASE_INSENSITIVE
#define RT_UNKNOWN  SN_HQT_UNKNOWN
#define RT_UINT	    SN_HQT_INT
#define RT_INT	    SN_HQT_INT
#define RT_FLOAT    SN_HQT_FLOAT
#define RT_STRING   SN_HQT_STRING
#define RT_BOOL	    SN_HQT_BOOL
#define RT_DATETIME SN_HQT_DATETIME
#define RT_DATE	    SN_HQT_DATE
#define RT_ARRAY    SN_HQT_ARRAY
#define RT_UUID	    SN_HQT_UUID
#define RT_INTERVAL SN_HQT_INTERVAL
#define RT_ARG0	    SN_HQT_ARG0
#define RT_ARG1	    SN_HQT_ARG1

static const struct sn_hogql_func funcs[] = {
    {"JSONArrayLength", 1, -1, 0, 0, 0, RT_INT},
    {"JSONExtract", 2, -1, 0, 0, 0, RT_UNKNOWN},
    {"JSONExtractArrayRaw", 1, -1, 0, 0, 0, RT_ARRAY},
    {"JSONExtractBool", 1, -1, 0, 0, 0, RT_BOOL},
    {"JSONExtractFloat", 1, -1, 0, 0, 0, RT_UNKNOWN},
    {"JSONExtractInt", 1, -1, 0, 0, 0, RT_INT},
    {"JSONExtractKey", 1, -1, 0, 0, 0, RT_STRING},
    {"JSONExtractKeys", 1, -1, 0, 0, 0, RT_ARRAY},
    {"JSONExtractKeysAndValues", 1, 3, 0, 0, 0, RT_ARRAY},
    {"JSONExtractKeysAndValuesRaw", 1, -1, 0, 0, 0, RT_ARRAY},
    {"JSONExtractRaw", 1, -1, 0, 0, 0, RT_STRING},
    {"JSONExtractString", 1, -1, 0, 0, 0, RT_STRING},
    {"JSONExtractUInt", 1, -1, 0, 0, 0, RT_INT},
    {"JSONHas", 1, -1, 0, 0, 0, RT_BOOL},
    {"JSONLength", 1, -1, 0, 0, 0, RT_INT},
    {"JSONType", 1, -1, 0, 0, 0, RT_STRING},
    {"JSON_VALUE", 2, -1, 0, 0, 0, RT_STRING},
    {"L1Distance", 2, 2, 0, 0, 0, RT_FLOAT},
    {"L1Norm", 1, 1, 0, 0, 0, RT_FLOAT},
    {"L1Normalize", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"L2Distance", 2, 2, 0, 0, 0, RT_FLOAT},
    {"L2Norm", 1, 1, 0, 0, 0, RT_FLOAT},
    {"L2Normalize", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"LinfDistance", 2, 2, 0, 0, 0, RT_FLOAT},
    {"LinfNorm", 1, 1, 0, 0, 0, RT_FLOAT},
    {"LinfNormalize", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"LpDistance", 3, 3, 0, 0, 0, RT_FLOAT},
    {"LpNorm", 2, 2, 0, 0, 0, RT_FLOAT},
    {"LpNormalize", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"MD5", 1, 1, 0, 0, 0, RT_STRING},
    {"SHA1", 1, 1, 0, 0, 0, RT_STRING},
    {"SHA256", 1, 1, 0, 0, 0, RT_STRING},
    {"URLHierarchy", 1, 1, 0, 0, 0, RT_ARRAY},
    {"URLPathHierarchy", 1, 1, 0, 0, 0, RT_ARRAY},
    {"_caseWithExpression", 4, -1, 0, 0, 0, RT_ARG1},
    {"abs", 1, 1, 0, 0, F_CI, RT_ARG0},
    {"accurateCast", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"accurateCastOrNull", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"acos", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"addDays", 2, 2, 0, 0, 0, RT_DATETIME},
    {"addHours", 2, 2, 0, 0, 0, RT_DATETIME},
    {"addMinutes", 2, 2, 0, 0, 0, RT_DATETIME},
    {"addMonths", 2, 2, 0, 0, 0, RT_DATETIME},
    {"addQuarters", 2, 2, 0, 0, 0, RT_DATETIME},
    {"addSeconds", 2, 2, 0, 0, 0, RT_DATETIME},
    {"addWeeks", 2, 2, 0, 0, 0, RT_DATETIME},
    {"addYears", 2, 2, 0, 0, 0, RT_DATETIME},
    {"age", 3, 3, 0, 0, 0, RT_INT},
    {"alphaTokens", 1, 2, 0, 0, 0, RT_ARRAY},
    {"and", 2, -1, 0, 0, 0, RT_BOOL},
    {"any", 1, 1, 0, 0, F_AGG, RT_ARG0},
    {"anyHeavy", 1, 1, 0, 0, F_AGG, RT_ARG0},
    {"anyIf", 2, 2, 0, 0, F_AGG, RT_ARG0},
    {"anyLast", 1, 1, 0, 0, F_AGG, RT_ARG0},
    {"argMax", 2, 2, 0, 0, F_AGG, RT_ARG0},
    {"argMaxIf", 3, 3, 0, 0, F_AGG, RT_UNKNOWN},
    {"argMin", 2, 2, 0, 0, F_AGG, RT_ARG0},
    {"argMinIf", 3, 3, 0, 0, F_AGG, RT_UNKNOWN},
    {"array", 0, -1, 0, 0, 0, RT_ARRAY},
    {"arrayAUC", 2, 2, 0, 0, 0, RT_FLOAT},
    {"arrayAll", 1, -1, 0, 0, 0, RT_BOOL},
    {"arrayAvg", 1, 2, 0, 0, 0, RT_FLOAT},
    {"arrayCompact", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayConcat", 2, -1, 0, 0, 0, RT_ARRAY},
    {"arrayCount", 1, -1, 0, 0, 0, RT_INT},
    {"arrayCumSum", 1, -1, 0, 0, 0, RT_ARRAY},
    {"arrayDifference", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayDistinct", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayElement", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"arrayEnumerate", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayEnumerateDense", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayEnumerateUniq", 2, -1, 0, 0, 0, RT_ARRAY},
    {"arrayExists", 1, -1, 0, 0, 0, RT_BOOL},
    {"arrayFill", 2, -1, 0, 0, 0, RT_ARRAY},
    {"arrayFilter", 2, -1, 0, 0, 0, RT_ARRAY},
    {"arrayFirst", 2, -1, 0, 0, 0, RT_UNKNOWN},
    {"arrayFirstIndex", 2, -1, 0, 0, 0, RT_INT},
    {"arrayFlatten", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayFold", 3, -1, 0, 0, 0, RT_UNKNOWN},
    {"arrayIntersect", 1, -1, 0, 0, 0, RT_ARRAY},
    {"arrayJoin", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"arrayLast", 2, -1, 0, 0, 0, RT_UNKNOWN},
    {"arrayLastIndex", 2, -1, 0, 0, 0, RT_INT},
    {"arrayMap", 2, -1, 0, 0, 0, RT_ARRAY},
    {"arrayMax", 1, 2, 0, 0, 0, RT_UNKNOWN},
    {"arrayMin", 1, 2, 0, 0, 0, RT_UNKNOWN},
    {"arrayPopBack", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayPopFront", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayProduct", 1, 1, 0, 0, 0, RT_INT},
    {"arrayPushBack", 2, 2, 0, 0, 0, RT_ARRAY},
    {"arrayPushFront", 2, 2, 0, 0, 0, RT_ARRAY},
    {"arrayReduce", 2, -1, 0, 0, 0, RT_UNKNOWN},
    {"arrayResize", 2, 3, 0, 0, 0, RT_ARRAY},
    {"arrayReverse", 1, 1, 0, 0, 0, RT_ARRAY},
    {"arrayReverseSort", 1, -1, 0, 0, 0, RT_ARRAY},
    {"arrayRotateLeft", 2, 2, 0, 0, 0, RT_ARRAY},
    {"arrayRotateRight", 2, 2, 0, 0, 0, RT_ARRAY},
    {"arraySlice", 2, 3, 0, 0, 0, RT_ARRAY},
    {"arraySort", 1, -1, 0, 0, 0, RT_ARRAY},
    {"arraySplit", 2, -1, 0, 0, 0, RT_ARRAY},
    {"arrayStringConcat", 1, 2, 0, 0, 0, RT_STRING},
    {"arraySum", 1, 2, 0, 0, 0, RT_UNKNOWN},
    {"arrayUniq", 1, -1, 0, 0, 0, RT_INT},
    {"arrayWithConstant", 2, 2, 0, 0, 0, RT_ARRAY},
    {"arrayZip", 2, -1, 0, 0, 0, RT_ARRAY},
    {"array_agg", 1, 1, 0, 0, F_AGG, RT_ARRAY},
    {"ascii", 1, 1, 0, 0, 0, RT_INT},
    {"asin", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"assumeNotNull", 1, 1, 0, 0, 0, RT_ARG0},
    {"atan", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"atan2", 2, 2, 0, 0, 0, RT_FLOAT},
    {"avg", 1, 1, 0, 0, F_AGG | F_CI, RT_FLOAT},
    {"avgIf", 2, 2, 0, 0, F_AGG, RT_FLOAT},
    {"avgWeighted", 2, 2, 0, 0, F_AGG, RT_FLOAT},
    {"base64Decode", 1, 1, 0, 0, 0, RT_STRING},
    {"base64Encode", 1, 1, 0, 0, 0, RT_STRING},
    {"bitAnd", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"bitCount", 1, 1, 0, 0, 0, RT_INT},
    {"bitNot", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"bitOr", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"bitShiftLeft", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"bitShiftRight", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"bitTest", 2, 2, 0, 0, 0, RT_BOOL},
    {"bitXor", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"btrim", 1, 2, 0, 0, F_CI, RT_STRING},
    {"cbrt", 1, 1, 0, 0, 0, RT_FLOAT},
    {"ceil", 1, 2, 0, 0, F_CI, RT_INT},
    {"cityHash64", 1, 1, 0, 0, 0, RT_INT},
    {"coalesce", 1, -1, 0, 0, F_CI, RT_ARG0},
    {"concat", 2, -1, 0, 0, F_CI, RT_STRING},
    {"concatWithSeparator", 2, -1, 0, 0, 0, RT_STRING},
    {"contingency", 2, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"corr", 2, 2, 0, 0, F_AGG, RT_FLOAT},
    {"cos", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"cosineDistance", 2, 2, 0, 0, 0, RT_FLOAT},
    {"count", 0, 1, 0, 0, F_AGG | F_CI, RT_UINT},
    {"countDistinctIf", 1, 2, 0, 0, F_AGG, RT_UINT},
    {"countEqual", 2, 2, 0, 0, 0, RT_INT},
    {"countIf", 1, 2, 0, 0, F_AGG, RT_UINT},
    {"countMatches", 2, 2, 0, 0, 0, RT_INT},
    {"countSubstrings", 2, 3, 0, 0, 0, RT_INT},
    {"covarPop", 2, 2, 0, 0, F_AGG, RT_FLOAT},
    {"covarSamp", 2, 2, 0, 0, F_AGG, RT_FLOAT},
    {"cramersV", 2, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"current_timestamp", 0, 0, 0, 0, 0, RT_DATETIME},
    {"cutFragment", 1, 1, 0, 0, 0, RT_STRING},
    {"cutQueryString", 1, 1, 0, 0, 0, RT_STRING},
    {"cutQueryStringAndFragment", 1, 1, 0, 0, 0, RT_STRING},
    {"cutToFirstSignificantSubdomain", 1, 1, 0, 0, 0, RT_STRING},
    {"cutURLParameter", 2, 2, 0, 0, 0, RT_STRING},
    {"cutWWW", 1, 1, 0, 0, 0, RT_STRING},
    {"dateAdd", 2, 3, 0, 0, 0, RT_DATETIME},
    {"dateDiff", 3, 3, 0, 0, 0, RT_INT},
    {"dateName", 2, 2, 0, 0, 0, RT_STRING},
    {"dateSub", 2, 3, 0, 0, 0, RT_DATETIME},
    {"dateTrunc", 2, 3, 0, 0, 0, RT_DATETIME},
    {"date_add", 2, 2, 0, 0, 0, RT_DATETIME},
    {"date_diff", 3, 3, 0, 0, 0, RT_INT},
    {"date_subtract", 2, 2, 0, 0, 0, RT_DATETIME},
    {"date_trunc", 2, 3, 0, 0, 0, RT_DATETIME},
    {"decodeURLComponent", 1, 1, 0, 0, 0, RT_STRING},
    {"degrees", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"deltaSum", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"deltaSumTimestamp", 2, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"dense_rank", 0, 0, 0, 0, F_WINDOW, RT_UINT},
    {"divide", 2, 2, 0, 0, 0, RT_FLOAT},
    {"divideDecimal", 2, 3, 0, 0, 0, RT_UNKNOWN},
    {"domain", 1, 1, 0, 0, 0, RT_STRING},
    {"domainWithoutWWW", 1, 1, 0, 0, 0, RT_STRING},
    {"dotProduct", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"e", 0, 0, 0, 0, 0, RT_FLOAT},
    {"empty", 1, 1, 0, 0, 0, RT_BOOL},
    {"encodeURLComponent", 1, 1, 0, 0, 0, RT_STRING},
    {"endsWith", 2, 2, 0, 0, 0, RT_BOOL},
    {"equals", 2, 2, 0, 0, 0, RT_BOOL},
    {"erf", 1, 1, 0, 0, 0, RT_FLOAT},
    {"every", 1, 1, 0, 0, F_AGG, RT_BOOL},
    {"exp", 1, 1, 0, 0, 0, RT_FLOAT},
    {"exp10", 1, 1, 0, 0, 0, RT_FLOAT},
    {"exp2", 1, 1, 0, 0, 0, RT_FLOAT},
    {"extract", 2, 2, 0, 0, 0, RT_STRING},
    {"extractAll", 2, 2, 0, 0, 0, RT_ARRAY},
    {"extractAllGroupsHorizontal", 2, 2, 0, 0, 0, RT_ARRAY},
    {"extractAllGroupsVertical", 2, 2, 0, 0, 0, RT_ARRAY},
    {"extractURLParameter", 2, 2, 0, 0, 0, RT_STRING},
    {"extractURLParameterNames", 1, 1, 0, 0, 0, RT_ARRAY},
    {"extractURLParameters", 1, 1, 0, 0, 0, RT_ARRAY},
    {"factorial", 1, 1, 0, 0, F_CI, RT_INT},
    /* ClickHouse's, not in PostHog's list: an aggregate state's answer */
    {"finalizeAggregation", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"firstSignificantSubdomain", 1, 1, 0, 0, 0, RT_STRING},
    {"first_value", 1, 1, 0, 0, F_WINDOW, RT_ARG0},
    {"floor", 1, 2, 0, 0, F_CI, RT_INT},
    {"format", 2, -1, 0, 0, 0, RT_STRING},
    {"formatDateTime", 2, 3, 0, 0, 0, RT_STRING},
    {"fragment", 1, 1, 0, 0, 0, RT_STRING},
    {"fromUnixTimestamp", 1, 1, 0, 0, 0, RT_DATETIME},
    {"fromUnixTimestamp64Milli", 1, 1, 0, 0, 0, RT_DATETIME},
    {"gcd", 2, 2, 0, 0, 0, RT_INT},
    {"geoDistance", 4, 4, 0, 0, 0, RT_FLOAT},
    {"geoToH3", 3, 3, 0, 0, 0, RT_INT},
    {"geohashDecode", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"geohashEncode", 2, 3, 0, 0, 0, RT_UNKNOWN},
    {"greatCircleDistance", 4, 4, 0, 0, 0, RT_FLOAT},
    {"greater", 2, 2, 0, 0, 0, RT_BOOL},
    {"greaterOrEquals", 2, 2, 0, 0, 0, RT_BOOL},
    {"greatest", 2, 2, 0, 0, 0, RT_ARG0},
    {"groupArray", 1, 1, 0, 0, F_AGG, RT_ARRAY},
    {"groupArrayIf", 2, 2, 0, 0, F_AGG, RT_ARRAY},
    {"groupArrayInsertAt", 2, 2, 0, 0, F_AGG, RT_ARRAY},
    {"groupArrayMovingAvg", 1, 1, 0, 0, F_AGG, RT_ARRAY},
    {"groupArrayMovingSum", 1, 1, 0, 0, F_AGG, RT_ARRAY},
    {"groupBitAnd", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"groupBitOr", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"groupBitXor", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"groupBitmap", 1, 1, 0, 0, F_AGG, RT_UINT},
    {"groupUniqArray", 1, 1, 0, 0, F_AGG, RT_ARRAY},
    {"h3CellAreaM2", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3CellAreaRads2", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3Distance", 2, 2, 0, 0, 0, RT_INT},
    {"h3EdgeAngle", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3EdgeLengthKm", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3EdgeLengthM", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3ExactEdgeLengthKm", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3ExactEdgeLengthM", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3ExactEdgeLengthRads", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3GetBaseCell", 1, 1, 0, 0, 0, RT_INT},
    {"h3GetDestinationIndexFromUnidirectionalEdge", 1, 1, 0, 0, 0, RT_INT},
    {"h3GetFaces", 1, 1, 0, 0, 0, RT_ARRAY},
    {"h3GetIndexesFromUnidirectionalEdge", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"h3GetOriginIndexFromUnidirectionalEdge", 1, 1, 0, 0, 0, RT_INT},
    {"h3GetPentagonIndexes", 1, 1, 0, 0, 0, RT_ARRAY},
    {"h3GetRes0Indexes", 0, 0, 0, 0, 0, RT_ARRAY},
    {"h3GetResolution", 1, 1, 0, 0, 0, RT_INT},
    {"h3GetUnidirectionalEdge", 2, 2, 0, 0, 0, RT_INT},
    {"h3GetUnidirectionalEdgeBoundary", 1, 1, 0, 0, 0, RT_ARRAY},
    {"h3GetUnidirectionalEdgesFromHexagon", 1, 1, 0, 0, 0, RT_ARRAY},
    {"h3HexAreaKm2", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3HexAreaM2", 1, 1, 0, 0, 0, RT_FLOAT},
    {"h3HexRing", 2, 2, 0, 0, 0, RT_ARRAY},
    {"h3IndexesAreNeighbors", 2, 2, 0, 0, 0, RT_INT},
    {"h3IsPentagon", 1, 1, 0, 0, 0, RT_INT},
    {"h3IsResClassIII", 1, 1, 0, 0, 0, RT_INT},
    {"h3IsValid", 1, 1, 0, 0, 0, RT_INT},
    {"h3Line", 2, 2, 0, 0, 0, RT_ARRAY},
    {"h3NumHexagons", 1, 1, 0, 0, 0, RT_INT},
    {"h3PointDistKm", 4, 4, 0, 0, 0, RT_FLOAT},
    {"h3PointDistM", 4, 4, 0, 0, 0, RT_FLOAT},
    {"h3PointDistRads", 4, 4, 0, 0, 0, RT_FLOAT},
    {"h3ToCenterChild", 2, 2, 0, 0, 0, RT_INT},
    {"h3ToChildren", 2, 2, 0, 0, 0, RT_ARRAY},
    {"h3ToGeo", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"h3ToGeoBoundary", 1, 1, 0, 0, 0, RT_ARRAY},
    {"h3ToParent", 2, 2, 0, 0, 0, RT_INT},
    {"h3ToString", 1, 1, 0, 0, 0, RT_STRING},
    {"h3UnidirectionalEdgeIsValid", 1, 1, 0, 0, 0, RT_INT},
    {"h3kRing", 2, 2, 0, 0, 0, RT_ARRAY},
    {"has", 2, 2, 0, 0, 0, RT_BOOL},
    {"hasAll", 2, 2, 0, 0, 0, RT_BOOL},
    {"hasAny", 2, 2, 0, 0, 0, RT_BOOL},
    {"hasSubstr", 2, 2, 0, 0, 0, RT_BOOL},
    {"hex", 1, 1, 0, 0, 0, RT_STRING},
    {"hogql_lookupDomainType", 1, 1, 0, 0, 0, RT_STRING},
    {"hogql_lookupOrganicMediumType", 1, 1, 0, 0, 0, RT_STRING},
    {"hogql_lookupOrganicSourceType", 1, 1, 0, 0, 0, RT_STRING},
    {"hogql_lookupPaidMediumType", 1, 1, 0, 0, 0, RT_STRING},
    {"hogql_lookupPaidSourceType", 1, 1, 0, 0, 0, RT_STRING},
    {"hypot", 2, 2, 0, 0, 0, RT_FLOAT},
    {"if", 3, 3, 0, 0, F_CI, RT_ARG1},
    {"ifNull", 2, 2, 0, 0, F_CI, RT_ARG0},
    {"ilike", 2, 2, 0, 0, 0, RT_BOOL},
    {"in", 2, 2, 0, 0, 0, RT_BOOL},
    {"indexOf", 2, 2, 0, 0, 0, RT_INT},
    {"initcap", 1, 1, 0, 0, 0, RT_STRING},
    {"intDiv", 2, 2, 0, 0, 0, RT_INT},
    {"intDivOrZero", 2, 2, 0, 0, 0, RT_INT},
    {"isFinite", 1, 1, 0, 0, 0, RT_BOOL},
    {"isInfinite", 1, 1, 0, 0, 0, RT_BOOL},
    {"isNaN", 1, 1, 0, 0, 0, RT_BOOL},
    {"isNotNull", 1, 1, 0, 0, 0, RT_BOOL},
    {"isNull", 1, 1, 0, 0, F_CI, RT_BOOL},
    {"isValidJSON", 1, 1, 0, 0, 0, RT_BOOL},
    {"isValidUTF8", 1, 1, 0, 0, 0, RT_BOOL},
    {"kurtPop", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"kurtSamp", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"lag", 1, 3, 0, 0, F_WINDOW, RT_ARG0},
    {"lagInFrame", 1, 3, 0, 0, F_WINDOW, RT_ARG0},
    {"last_value", 1, 1, 0, 0, F_WINDOW, RT_ARG0},
    {"lcm", 2, 2, 0, 0, 0, RT_INT},
    {"lead", 1, 3, 0, 0, F_WINDOW, RT_ARG0},
    {"leadInFrame", 1, 3, 0, 0, F_WINDOW, RT_ARG0},
    {"least", 2, 2, 0, 0, 0, RT_ARG0},
    {"left", 2, 2, 0, 0, 0, RT_STRING},
    {"leftPad", 2, 3, 0, 0, 0, RT_STRING},
    {"length", 1, 1, 0, 0, F_CI, RT_INT},
    {"lengthUTF8", 1, 1, 0, 0, 0, RT_INT},
    {"less", 2, 2, 0, 0, 0, RT_BOOL},
    {"lessOrEquals", 2, 2, 0, 0, 0, RT_BOOL},
    {"like", 2, 2, 0, 0, 0, RT_BOOL},
    {"ln", 1, 1, 0, 0, 0, RT_FLOAT},
    {"log", 1, 1, 0, 0, 0, RT_FLOAT},
    {"log10", 1, 1, 0, 0, 0, RT_FLOAT},
    {"log2", 1, 1, 0, 0, 0, RT_FLOAT},
    {"lookupDomainType", 1, 1, 0, 0, 0, RT_STRING},
    {"lookupOrganicMediumType", 1, 1, 0, 0, 0, RT_STRING},
    {"lookupOrganicSourceType", 1, 1, 0, 0, 0, RT_STRING},
    {"lookupPaidMediumType", 1, 1, 0, 0, 0, RT_STRING},
    {"lookupPaidSourceType", 1, 1, 0, 0, 0, RT_STRING},
    {"lower", 1, 1, 0, 0, F_CI, RT_STRING},
    {"lowerUTF8", 1, 1, 0, 0, 0, RT_STRING},
    {"lpad", 3, 3, 0, 0, 0, RT_STRING},
    {"ltrim", 1, 2, 0, 0, F_CI, RT_STRING},
    {"map", 0, -1, 0, 0, 0, RT_UNKNOWN},
    {"mapApply", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"mapContains", 2, 2, 0, 0, 0, RT_BOOL},
    {"mapFilter", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"mapFromArrays", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"mapKeys", 1, 1, 0, 0, 0, RT_ARRAY},
    {"mapValues", 1, 1, 0, 0, 0, RT_ARRAY},
    {"match", 2, 2, 0, 0, 0, RT_BOOL},
    {"matchesAction", 1, 1, 0, 0, 0, RT_BOOL},
    {"max", 1, 1, 0, 0, F_AGG | F_CI, RT_ARG0},
    {"max2", 2, 2, 0, 0, 0, RT_FLOAT},
    {"maxIf", 2, 2, 0, 0, F_AGG, RT_ARG0},
    {"maxIntersections", 2, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"maxMap", 1, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"md5", 1, 1, 0, 0, 0, RT_STRING},
    {"median", 1, 1, 0, 0, F_AGG, RT_FLOAT},
    {"medianExact", 1, 1, 0, 0, F_AGG, RT_FLOAT},
    {"medianIf", 2, 2, 0, 0, F_AGG, RT_FLOAT},
    {"min", 1, 1, 0, 0, F_AGG | F_CI, RT_ARG0},
    {"min2", 2, 2, 0, 0, 0, RT_FLOAT},
    {"minIf", 2, 2, 0, 0, F_AGG, RT_ARG0},
    {"minMap", 1, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"minus", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"modulo", 2, 2, 0, 0, 0, RT_INT},
    {"moduloOrZero", 2, 2, 0, 0, 0, RT_INT},
    {"monthName", 1, 1, 0, 0, 0, RT_STRING},
    {"multiIf", 3, -1, 0, 0, 0, RT_ARG1},
    {"multiMatchAny", 2, 2, 0, 0, 0, RT_BOOL},
    {"multiMatchAnyIndex", 2, 2, 0, 0, 0, RT_INT},
    {"multiSearchAny", 2, 2, 0, 0, 0, RT_BOOL},
    {"multiSearchFirstIndex", 2, 2, 0, 0, 0, RT_INT},
    {"multiSearchFirstPosition", 2, 2, 0, 0, 0, RT_INT},
    {"multiply", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"multiplyDecimal", 2, 3, 0, 0, 0, RT_UNKNOWN},
    {"negate", 1, 1, 0, 0, 0, RT_ARG0},
    {"netloc", 1, 1, 0, 0, 0, RT_STRING},
    {"ngramDistance", 2, 2, 0, 0, 0, RT_FLOAT},
    {"not", 1, 1, 0, 0, F_CI, RT_BOOL},
    {"notEmpty", 1, 1, 0, 0, 0, RT_BOOL},
    {"notEquals", 2, 2, 0, 0, 0, RT_BOOL},
    {"notILike", 2, 2, 0, 0, 0, RT_BOOL},
    {"notIn", 2, 2, 0, 0, 0, RT_BOOL},
    {"notLike", 2, 2, 0, 0, 0, RT_BOOL},
    {"now", 0, 1, 0, 0, 0, RT_DATETIME},
    {"now64", 0, 2, 0, 0, 0, RT_DATETIME},
    {"nth_value", 2, 2, 0, 0, F_WINDOW, RT_UNKNOWN},
    {"nullIf", 2, 2, 0, 0, F_CI, RT_ARG0},
    {"or", 2, -1, 0, 0, 0, RT_BOOL},
    {"parseDateTime", 2, 3, 0, 0, 0, RT_DATETIME},
    {"parseDateTime64BestEffort", 1, 2, 0, 0, 0, RT_DATETIME},
    {"parseDateTime64BestEffortOrNull", 1, 2, 0, 0, 0, RT_DATETIME},
    {"parseDateTimeBestEffort", 1, 2, 0, 0, 0, RT_DATETIME},
    {"path", 1, 1, 0, 0, 0, RT_STRING},
    {"pathFull", 1, 1, 0, 0, 0, RT_STRING},
    {"pi", 0, 0, 0, 0, 0, RT_FLOAT},
    {"plus", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"pointInPolygon", 2, -1, 0, 0, 0, RT_BOOL},
    {"port", 1, 2, 0, 0, 0, RT_UINT},
    {"position", 2, 3, 0, 0, 0, RT_INT},
    {"positionCaseInsensitive", 2, 3, 0, 0, 0, RT_INT},
    {"positionUTF8", 2, 3, 0, 0, 0, RT_INT},
    {"positiveModulo", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"pow", 2, 2, 0, 0, 0, RT_FLOAT},
    {"power", 2, 2, 0, 0, 0, RT_FLOAT},
    {"protocol", 1, 1, 0, 0, 0, RT_STRING},
    {"quantile", 1, 1, 0, 1, F_AGG, RT_FLOAT},
    {"quantileExact", 1, 1, 1, 1, F_AGG, RT_UNKNOWN}, /* PostHog's aggregations.py has it */
    {"quantileIf", 2, 2, 1, 1, F_AGG, RT_FLOAT},
    {"quantiles", 1, -1, 0, -1, F_AGG, RT_ARRAY},
    {"queryString", 1, 1, 0, 0, 0, RT_STRING},
    {"queryStringAndFragment", 1, 1, 0, 0, 0, RT_STRING},
    {"radians", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"range", 1, 3, 0, 0, 0, RT_ARRAY},
    {"rank", 0, 0, 0, 0, F_WINDOW, RT_UINT},
    {"regexpExtract", 2, 3, 0, 0, 0, RT_STRING},
    {"regexpQuoteMeta", 1, 1, 0, 0, 0, RT_STRING},
    {"reinterpretAsFloat32", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsFloat64", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsInt128", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsInt16", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsInt256", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsInt32", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsInt64", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsInt8", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsUInt128", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsUInt16", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsUInt256", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsUInt32", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsUInt64", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsUInt8", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"reinterpretAsUUID", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"repeat", 2, 2, 0, 0, 0, RT_STRING},
    {"replace", 3, 3, 0, 0, F_CI, RT_STRING},
    {"replaceAll", 3, 3, 0, 0, 0, RT_STRING},
    {"replaceOne", 3, 3, 0, 0, 0, RT_STRING},
    {"replaceRegexpAll", 3, 3, 0, 0, 0, RT_STRING},
    {"replaceRegexpOne", 3, 3, 0, 0, 0, RT_STRING},
    {"reverse", 1, 1, 0, 0, 0, RT_STRING},
    {"reverseUTF8", 1, 1, 0, 0, 0, RT_STRING},
    {"right", 2, 2, 0, 0, 0, RT_STRING},
    {"rightPad", 2, 3, 0, 0, 0, RT_STRING},
    {"round", 1, 2, 0, 0, F_CI, RT_INT},
    {"roundAge", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"roundBankers", 1, 2, 0, 0, 0, RT_UNKNOWN},
    {"roundDown", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"roundDuration", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"roundToExp2", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"row_number", 0, 0, 0, 0, F_WINDOW, RT_UINT},
    {"rpad", 3, 3, 0, 0, 0, RT_STRING},
    {"rtrim", 1, 2, 0, 0, F_CI, RT_STRING},
    {"sign", 1, 1, 0, 0, 0, RT_INT},
    {"simpleLinearRegression", 2, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"sin", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"sipHash64", 1, -1, 0, 0, 0, RT_INT},
    {"skewPop", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"skewSamp", 1, 1, 0, 0, F_AGG, RT_UNKNOWN},
    {"sortableSemVer", 1, 1, 0, 0, F_CI, RT_ARRAY},
    {"sparkline", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"splitByChar", 2, 3, 0, 0, 0, RT_ARRAY},
    {"splitByNonAlpha", 1, 2, 0, 0, 0, RT_ARRAY},
    {"splitByRegexp", 2, 3, 0, 0, 0, RT_ARRAY},
    {"splitByString", 2, 3, 0, 0, 0, RT_ARRAY},
    {"splitByWhitespace", 1, 2, 0, 0, 0, RT_ARRAY},
    {"sqrt", 1, 1, 0, 0, 0, RT_FLOAT},
    {"startsWith", 2, 2, 0, 0, 0, RT_BOOL},
    {"stddevPop", 1, 1, 0, 0, F_AGG, RT_FLOAT},
    {"stddevSamp", 1, 1, 0, 0, F_AGG, RT_FLOAT},
    {"stringToH3", 1, 1, 0, 0, 0, RT_INT},
    {"string_agg", 2, 2, 0, 0, F_AGG, RT_STRING},
    {"substring", 3, 3, 0, 0, F_CI, RT_STRING},
    {"substringUTF8", 3, 3, 0, 0, 0, RT_STRING},
    {"subtractDays", 2, 2, 0, 0, 0, RT_DATETIME},
    {"subtractHours", 2, 2, 0, 0, 0, RT_DATETIME},
    {"subtractMinutes", 2, 2, 0, 0, 0, RT_DATETIME},
    {"subtractMonths", 2, 2, 0, 0, 0, RT_DATETIME},
    {"subtractQuarters", 2, 2, 0, 0, 0, RT_DATETIME},
    {"subtractSeconds", 2, 2, 0, 0, 0, RT_DATETIME},
    {"subtractWeeks", 2, 2, 0, 0, 0, RT_DATETIME},
    {"subtractYears", 2, 2, 0, 0, 0, RT_DATETIME},
    {"sum", 1, 1, 0, 0, F_AGG | F_CI, RT_ARG0},
    {"sumIf", 2, 2, 0, 0, F_AGG, RT_ARG0},
    {"sumMap", 1, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"tan", 1, 1, 0, 0, F_CI, RT_FLOAT},
    {"theilsU", 2, 2, 0, 0, F_AGG, RT_UNKNOWN},
    {"timeSlot", 1, 1, 0, 0, 0, RT_DATETIME},
    {"timeSlots", 2, 3, 0, 0, 0, RT_ARRAY},
    {"timeStampAdd", 2, 2, 0, 0, 0, RT_DATETIME},
    {"timeStampSub", 2, 2, 0, 0, 0, RT_DATETIME},
    {"timeZoneOf", 1, 1, 0, 0, 0, RT_STRING},
    {"timeZoneOffset", 1, 1, 0, 0, 0, RT_INT},
    {"toBool", 1, 1, 0, 0, 0, RT_BOOL},
    {"toDate", 1, 1, 0, 0, 0, RT_DATE},
    {"toDateTime", 1, 2, 0, 0, 0, RT_DATETIME},
    {"toDateTime64", 1, 3, 0, 0, 0, RT_DATETIME},
    {"toDayOfMonth", 1, 1, 0, 0, 0, RT_INT},
    {"toDayOfWeek", 1, 3, 0, 0, 0, RT_INT},
    {"toDayOfYear", 1, 1, 0, 0, 0, RT_INT},
    {"toDecimal", 2, 2, 0, 0, 0, RT_UNKNOWN},
    {"toFloat", 1, 1, 0, 0, 0, RT_FLOAT},
    {"toFloatOrZero", 1, 1, 0, 0, 0, RT_FLOAT},
    {"toHour", 1, 1, 0, 0, 0, RT_INT},
    {"toISOWeek", 1, 1, 0, 0, 0, RT_INT},
    {"toISOYear", 1, 1, 0, 0, 0, RT_INT},
    {"toInt", 1, 1, 0, 0, 0, RT_INT},
    {"toIntOrZero", 1, 1, 0, 0, 0, RT_INT},
    {"toIntervalDay", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toIntervalHour", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toIntervalMinute", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toIntervalMonth", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toIntervalQuarter", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toIntervalSecond", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toIntervalWeek", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toIntervalYear", 1, 1, 0, 0, 0, RT_INTERVAL},
    {"toJSONString", 1, 1, 0, 0, 0, RT_STRING},
    {"toLastDayOfMonth", 1, 1, 0, 0, 0, RT_DATE},
    {"toLastDayOfWeek", 1, 2, 0, 0, 0, RT_DATE},
    {"toMinute", 1, 1, 0, 0, 0, RT_INT},
    {"toMonday", 1, 1, 0, 0, 0, RT_DATE},
    {"toMonth", 1, 1, 0, 0, 0, RT_INT},
    {"toNullable", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"toQuarter", 1, 1, 0, 0, 0, RT_INT},
    {"toSecond", 1, 1, 0, 0, 0, RT_INT},
    {"toStartOfDay", 1, 2, 0, 0, 0, RT_DATETIME},
    {"toStartOfFifteenMinutes", 1, 1, 0, 0, 0, RT_DATETIME},
    {"toStartOfFiveMinutes", 1, 1, 0, 0, 0, RT_DATETIME},
    {"toStartOfHour", 1, 1, 0, 0, 0, RT_DATETIME},
    {"toStartOfISOYear", 1, 1, 0, 0, 0, RT_DATE},
    {"toStartOfInterval", 2, 2, 0, 0, 0, RT_DATETIME},
    {"toStartOfMinute", 1, 1, 0, 0, 0, RT_DATETIME},
    {"toStartOfMonth", 1, 1, 0, 0, 0, RT_DATE},
    {"toStartOfQuarter", 1, 1, 0, 0, 0, RT_DATE},
    {"toStartOfSecond", 1, 1, 0, 0, 0, RT_DATETIME},
    {"toStartOfTenMinutes", 1, 1, 0, 0, 0, RT_DATETIME},
    {"toStartOfWeek", 1, 2, 0, 0, 0, RT_DATE},
    {"toStartOfYear", 1, 1, 0, 0, 0, RT_DATE},
    {"toString", 1, 2, 0, 0, 0, RT_STRING},
    {"toTime", 1, 1, 0, 0, 0, RT_DATETIME},
    {"toTimeZone", 1, 2, 0, 0, 0, RT_DATETIME},
    {"toTypeName", 1, 1, 0, 0, 0, RT_STRING},
    {"toUUID", 1, 1, 0, 0, 0, RT_UUID},
    {"toUnixTimestamp", 1, 2, 0, 0, 0, RT_INT},
    {"toUnixTimestamp64Milli", 1, 1, 0, 0, 0, RT_INT},
    {"toValidUTF8", 1, 1, 0, 0, 0, RT_STRING},
    {"toWeek", 1, 3, 0, 0, 0, RT_INT},
    {"toYYYYMM", 1, 1, 0, 0, 0, RT_INT},
    {"toYYYYMMDD", 1, 1, 0, 0, 0, RT_INT},
    {"toYYYYMMDDhhmmss", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"toYear", 1, 1, 0, 0, 0, RT_INT},
    {"toYearWeek", 1, 3, 0, 0, 0, RT_INT},
    {"today", 0, 0, 0, 0, 0, RT_DATE},
    {"topK", 1, 1, 0, 1, F_AGG, RT_ARRAY},
    {"topLevelDomain", 1, 1, 0, 0, 0, RT_STRING},
    {"transform", 3, 4, 0, 0, 0, RT_ARG1},
    {"translate", 3, 3, 0, 0, 0, RT_STRING},
    {"trim", 1, 2, 0, 0, F_CI, RT_STRING},
    {"trimLeft", 1, 2, 0, 0, 0, RT_STRING},
    {"trimRight", 1, 2, 0, 0, 0, RT_STRING},
    {"trunc", 1, 2, 0, 0, 0, RT_INT},
    {"tryBase64Decode", 1, 1, 0, 0, 0, RT_STRING},
    {"tuple", 0, -1, 0, 0, 0, RT_UNKNOWN},
    {"tupleElement", 2, 3, 0, 0, 0, RT_UNKNOWN},
    {"unhex", 1, 1, 0, 0, 0, RT_STRING},
    {"uniq", 1, -1, 0, 0, F_AGG, RT_UINT},
    {"uniqExact", 1, -1, 0, 0, F_AGG, RT_UINT},
    {"uniqHLL12", 1, -1, 0, 0, F_AGG, RT_UINT},
    {"uniqIf", 2, -1, 0, 0, F_AGG, RT_UINT},
    {"uniqTheta", 1, -1, 0, 0, F_AGG, RT_UINT},
    {"untuple", 1, 1, 0, 0, 0, RT_UNKNOWN},
    {"upper", 1, 1, 0, 0, F_CI, RT_STRING},
    {"upperUTF8", 1, 1, 0, 0, 0, RT_STRING},
    {"varPop", 1, 1, 0, 0, F_AGG, RT_FLOAT},
    {"varSamp", 1, 1, 0, 0, F_AGG, RT_FLOAT},
    {"width_bucket", 4, 4, 0, 0, 0, RT_UNKNOWN},
    {"windowFunnel", 1, 99, 1, -1, F_AGG, RT_UNKNOWN},
    {"xor", 2, -1, 0, 0, 0, RT_BOOL},
    {"yesterday", 0, 0, 0, 0, 0, RT_DATE},
};

static const struct sn_hogql_func *exact(const char *name)
{
	size_t lo = 0, hi = SN_ARRAY_LEN(funcs);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(funcs[mid].name, name);
		if (c == 0)
			return &funcs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < SN_ARRAY_LEN(funcs); i++)
		if ((funcs[i].flags & SN_HQF_CASE_INSENSITIVE) &&
		    strcasecmp(funcs[i].name, name) == 0)
			return &funcs[i];
	return NULL;
}

/* A combinator's effect on its aggregate's arity and result: -If adds the
 * condition, -Merge takes the one state instead of the arguments, -State
 * answers with a state (AggregateFunction, unknown here). */
static void combine(struct sn_hogql_func *f, int which)
{
	if (which == 0) {
		f->min_args++;
		if (f->max_args >= 0)
			f->max_args++;
	} else if (which == 4) {
		f->min_args = f->max_args = 1;
		if (f->result == SN_HQT_ARG0 || f->result == SN_HQT_ARG1)
			f->result = SN_HQT_UNKNOWN;
	} else if (which == 3) {
		f->result = SN_HQT_UNKNOWN;
	}
}

const struct sn_hogql_func *sn_hogql_func_find(const char *name, struct sn_hogql_func *tmp)
{
	const struct sn_hogql_func *f = exact(name);
	if (f)
		return f;
	/* Combinators peel off from the right, as ClickHouse reads them:
	 * sumIfState is -State of sumIf, sumStateIf -If of sumState. */
	static const char *const suffixes[] = {"If",	"OrNull", "OrDefault", "State",
					       "Merge", "Array",  "Distinct",  NULL};
	size_t n = strlen(name);
	for (int i = 0; suffixes[i]; i++) {
		size_t sl = strlen(suffixes[i]);
		char base[128];
		if (n <= sl || n - sl >= sizeof(base) || strcmp(name + n - sl, suffixes[i]) != 0)
			continue;
		memcpy(base, name, n - sl);
		base[n - sl] = 0;
		struct sn_hogql_func inner;
		const struct sn_hogql_func *b = sn_hogql_func_find(base, &inner);
		if (!b || !(b->flags & SN_HQF_AGGREGATE))
			continue;
		*tmp = *b;
		tmp->name = name;
		combine(tmp, i);
		return tmp;
	}
	return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];
	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = (a[i - 1] | 32) == (b[j - 1] | 32) ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *sn_hogql_func_suggest(const char *name)
{
	const char *best = NULL;
	size_t bestd = 3; /* at most two edits away */
	for (size_t i = 0; i < SN_ARRAY_LEN(funcs); i++) {
		size_t d = edit_distance(name, funcs[i].name);
		if (d < bestd) {
			bestd = d;
			best = funcs[i].name;
		}
	}
	return best;
}

size_t sn_hogql_func_count(void)
{
	return SN_ARRAY_LEN(funcs);
}
