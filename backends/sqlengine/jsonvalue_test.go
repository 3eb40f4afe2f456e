package sqlengine

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// TestEngine_Query_JSONTypes runs every kind of DuckDB value through a real
// query and checks the exact JSON.
func TestEngine_Query_JSONTypes(t *testing.T) {
	e, _ := newTestEngine(t, Config{}, t.TempDir())
	for _, tc := range []struct{ expr, typ, want string }{
		{"NULL::INTEGER", "INTEGER", `null`},
		{"true", "BOOLEAN", `true`},
		{"-7::TINYINT", "TINYINT", `-7`},
		{"4000000000::UINTEGER", "UINTEGER", `4000000000`},
		{"(2::HUGEINT ** 70)::HUGEINT", "HUGEINT", `"1180591620717411303424"`},
		{"-(2::HUGEINT ** 70)::HUGEINT", "HUGEINT", `"-1180591620717411303424"`},
		{"12::HUGEINT", "HUGEINT", `12`},
		{"340282366920938463463374607431768211455::UHUGEINT", "UHUGEINT", `"340282366920938463463374607431768211455"`},
		{"1152921504606846976::BIGINT", "BIGINT", `"1152921504606846976"`},
		{"9007199254740992::BIGINT", "BIGINT", `9007199254740992`},
		{"-9007199254740992::BIGINT", "BIGINT", `-9007199254740992`},
		{"9007199254740993::BIGINT", "BIGINT", `"9007199254740993"`},
		{"18446744073709551615::UBIGINT", "UBIGINT", `"18446744073709551615"`},
		{"12345678901234567890123::BIGNUM", "BIGNUM", `"12345678901234567890123"`},
		{"123.45::DECIMAL(38,10)", "DECIMAL(38,10)", `"123.4500000000"`},
		{"-1234567890123456789012345678.0123456789::DECIMAL(38,10)", "DECIMAL(38,10)", `"-1234567890123456789012345678.0123456789"`},
		{"12345.678::DECIMAL(18,3)", "DECIMAL(18,3)", `"12345.678"`},
		{"-0.05::DECIMAL(4,2)", "DECIMAL(4,2)", `"-0.05"`},
		{"0::DECIMAL(4,2)", "DECIMAL(4,2)", `"0.00"`},
		{"42::DECIMAL(5,0)", "DECIMAL(5,0)", `"42"`},
		{"'nan'::DOUBLE", "DOUBLE", `null`},
		{"'inf'::DOUBLE", "DOUBLE", `null`},
		{"'-inf'::FLOAT", "FLOAT", `null`},
		{"0.1::DOUBLE", "DOUBLE", `0.1`},
		{"1.5::FLOAT", "FLOAT", `1.5`},
		{"TIMESTAMP '2024-01-31 12:34:56'", "TIMESTAMP", `"2024-01-31T12:34:56Z"`},
		{"TIMESTAMP '2024-01-31 12:34:56.123456'", "TIMESTAMP", `"2024-01-31T12:34:56.123456Z"`},
		{"TIMESTAMP_NS '2024-01-01 00:00:00.123456789'", "TIMESTAMP_NS", `"2024-01-01T00:00:00.123456789Z"`},
		{"TIMESTAMP_MS '2024-01-01 00:00:00.5'", "TIMESTAMP_MS", `"2024-01-01T00:00:00.5Z"`},
		{"TIMESTAMP_S '2024-01-01 00:00:01'", "TIMESTAMP_S", `"2024-01-01T00:00:01Z"`},
		{"TIMESTAMPTZ '2024-01-31 12:34:56+02'", "TIMESTAMPTZ", `"2024-01-31T10:34:56Z"`},
		{"DATE '2024-01-31'", "DATE", `"2024-01-31"`},
		{"TIME '15:04:05'", "TIME", `"15:04:05"`},
		{"TIME '15:04:05.25'", "TIME", `"15:04:05.25"`},
		{"TIMETZ '15:04:05+02'", "TIMETZ", `"15:04:05+02:00"`},
		{`'\x01\xff'::BLOB`, "BLOB", `"Af8="`},
		{"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID", "UUID", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"INTERVAL '1 year 2 days 3 seconds'", "INTERVAL", `{"days":2,"micros":3000000,"months":12}`},
		{"-INTERVAL '1 month 1 microsecond'", "INTERVAL", `{"days":0,"micros":-1,"months":-1}`},
		{"'héllo'", "VARCHAR", `"héllo"`},
		{"'x'::ENUM('x', 'y')", "ENUM", `"x"`},
		{"'101'::BIT", "BIT", `"101"`},
		{"[1, 2, NULL]", "INTEGER[]", `[1,2,null]`},
		{"[DATE '2024-01-01']", "DATE[]", `["2024-01-01"]`},
		{"[[2::HUGEINT ** 70]]", "DOUBLE[][]", `[[1.1805916207174113e+21]]`},
		{"[1, 2, 3]::INTEGER[3]", "INTEGER[3]", `[1,2,3]`},
		{"['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID]", "UUID[]", `["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]`},
		{"{'a': 1, 'b c': [DATE '2024-01-01'], 'u': 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID}", `STRUCT("a" INTEGER, "b c" DATE[], "u" UUID)`,
			`{"a":1,"b c":["2024-01-01"],"u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}`},
		{`{'x"y': 9007199254740993::BIGINT}`, `STRUCT("x""y" BIGINT)`, `{"x\"y":"9007199254740993"}`},
		{"MAP {1: 'x', 2: 'y'}", "MAP(INTEGER, VARCHAR)", `{"1":"x","2":"y"}`},
		{"MAP {DATE '2024-01-01': TIME '01:02:03'}", "MAP(DATE, TIME)", `{"2024-01-01":"01:02:03"}`},
		{"[{'m': MAP {'k': [BLOB '\\x00']}}]", `STRUCT("m" MAP(VARCHAR, BLOB[]))[]`, `[{"m":{"k":["AA=="]}}]`},
		{"union_value(k := 1)::UNION(k INTEGER, s VARCHAR)", `UNION("k" INTEGER, "s" VARCHAR)`, `1`},
		{"union_value(d := DATE '2024-02-29')::UNION(d DATE, s VARCHAR)", `UNION("d" DATE, "s" VARCHAR)`, `"2024-02-29"`},
		{`'{"a": [1, "b"]}'::JSON`, "JSON", `{"a":[1,"b"]}`},
	} {
		res := mustQuery(t, e, "SELECT "+tc.expr+" AS v", 0)
		if res.Columns[0].Type != tc.typ {
			t.Errorf("%s: type %s, want %s", tc.expr, res.Columns[0].Type, tc.typ)
		}
		if got := mustJSON(t, res.Rows[0][0]); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.expr, got, tc.want)
		}
	}

	// All at once, as a row.
	res := mustQuery(t, e, `SELECT 1::BIGINT AS a, 'nan'::DOUBLE AS b, DATE '2024-01-31' AS c, [1] AS d`, 0)
	if got, want := mustJSON(t, res.Rows), `[[1,null,"2024-01-31",[1]]]`; got != want {
		t.Errorf("row = %s, want %s", got, want)
	}
}

func TestJSONValue(t *testing.T) {
	uuid := [16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}
	om := duckdb.OrderedMap{}
	om.Set(1.5, "x")
	om.Set(2, []byte{1})
	ts := time.Date(2024, 1, 31, 12, 0, 0, 5, time.UTC)

	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, `null`},
		{"bool", false, `false`},
		{"int8", int8(-128), `-128`},
		{"uint8", uint8(255), `255`},
		{"int16", int16(-3), `-3`},
		{"uint16", uint16(3), `3`},
		{"int32", int32(math.MinInt32), `-2147483648`},
		{"uint32", uint32(math.MaxUint32), `4294967295`},
		{"int", 1 << 60, `"1152921504606846976"`},
		{"uint", uint(7), `7`},
		{"int64 2^53", int64(1 << 53), `9007199254740992`},
		{"int64 -2^53", int64(-1 << 53), `-9007199254740992`},
		{"int64 2^53+1", int64(1<<53 + 1), `"9007199254740993"`},
		{"int64 -2^53-1", int64(-1<<53 - 1), `"-9007199254740993"`},
		{"int64 min", int64(math.MinInt64), `"-9223372036854775808"`},
		{"uint64 2^53", uint64(1 << 53), `9007199254740992`},
		{"uint64 max", uint64(math.MaxUint64), `"18446744073709551615"`},
		{"big small", big.NewInt(-42), `-42`},
		{"big 2^70", new(big.Int).Lsh(big.NewInt(1), 70), `"1180591620717411303424"`},
		{"big -2^70", new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 70)), `"-1180591620717411303424"`},
		{"big nil", (*big.Int)(nil), `null`},
		{"decimal", duckdb.Decimal{Width: 18, Scale: 3, Value: big.NewInt(12345678)}, `"12345.678"`},
		{"decimal trailing zeros", duckdb.Decimal{Width: 18, Scale: 3, Value: big.NewInt(1500)}, `"1.500"`},
		{"decimal negative", duckdb.Decimal{Width: 4, Scale: 2, Value: big.NewInt(-5)}, `"-0.05"`},
		{"decimal negative whole", duckdb.Decimal{Width: 9, Scale: 2, Value: big.NewInt(-12345)}, `"-123.45"`},
		{"decimal zero", duckdb.Decimal{Width: 4, Scale: 2, Value: big.NewInt(0)}, `"0.00"`},
		{"decimal scale 0", duckdb.Decimal{Width: 4, Scale: 0, Value: big.NewInt(-12)}, `"-12"`},
		{"decimal nil", duckdb.Decimal{Width: 4, Scale: 2}, `null`},
		{"float32", float32(0.25), `0.25`},
		{"float32 nan", float32(math.NaN()), `null`},
		{"float64", 1e300, `1e+300`},
		{"float64 nan", math.NaN(), `null`},
		{"float64 +inf", math.Inf(1), `null`},
		{"float64 -inf", math.Inf(-1), `null`},
		{"time", ts, `"2024-01-31T12:00:00.000000005Z"`},
		{"time zone", time.Date(2024, 1, 31, 12, 0, 0, 0, time.FixedZone("", 3600)), `"2024-01-31T12:00:00+01:00"`},
		{"bytes", []byte("hi?"), `"aGk/"`},
		{"uuid", duckdb.UUID(uuid), `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"uuid ptr", (*duckdb.UUID)(&uuid), `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"uuid array", uuid, `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"interval", duckdb.Interval{Months: 1, Days: -2, Micros: 1 << 60}, `{"days":-2,"micros":"1152921504606846976","months":1}`},
		{"string", "a\u00e9", `"aé"`},
		{"invalid utf8", "a\xffb", "\"a\uFFFDb\""},
		{"list", []any{int64(1 << 60), nil, "x"}, `["1152921504606846976",null,"x"]`},
		{"struct", map[string]any{"a": math.Inf(1), "b\xff": []any{uint64(1)}}, "{\"a\":null,\"b\uFFFD\":[1]}"},
		{"ordered map", om, `{"1.5":"x","2":"AQ=="}`},
		{"map", duckdb.Map{int32(1): int64(1 << 60), "k": nil}, `{"1":"1152921504606846976","k":null}`},
		{"union", duckdb.Union{Tag: "a", Value: int64(1 << 60)}, `"1152921504606846976"`},
		{"other", struct{ A int }{3}, `"{3}"`},
	} {
		if got := mustJSON(t, jsonValue(tc.in)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestConverterFor(t *testing.T) {
	date := time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)
	clock := time.Date(1, 1, 1, 15, 4, 5, 123456000, time.UTC)
	uuid := []byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}
	om := duckdb.OrderedMap{}
	om.Set(date, []any{clock})

	for _, tc := range []struct {
		typ  string
		in   any
		want string
	}{
		{"DATE", date, `"2024-01-31"`},
		{"DATE", nil, `null`},
		{"TIME", clock, `"15:04:05.123456"`},
		{"TIMETZ", time.Date(1, 1, 1, 15, 4, 5, 123456000, time.FixedZone("", -5*3600-30*60)), `"15:04:05.123456-05:30"`},
		{"TIMESTAMP", date, `"2024-01-31T00:00:00Z"`},
		{"UUID", uuid, `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"BLOB", uuid, `"oO68mZwLTvi7bWu5vTgKEQ=="`},
		{"UUID", []byte{1}, `"AQ=="`},
		{"DATE[]", []any{date, nil}, `["2024-01-31",null]`},
		{"DATE[2]", []any{date, date}, `["2024-01-31","2024-01-31"]`},
		{"DATE[2][]", []any{[]any{date}}, `[["2024-01-31"]]`},
		{"UUID[][3]", []any{[]any{uuid}}, `[["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]]`},
		{`STRUCT("a, b" DATE, "c""d" UUID[], "e(" TIME)`,
			map[string]any{"a, b": date, `c"d`: []any{uuid}, "e(": clock, "extra": date},
			`{"a, b":"2024-01-31","c\"d":["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],"e(":"15:04:05.123456","extra":"2024-01-31T00:00:00Z"}`},
		{`STRUCT("s[" DATE)[]`, []any{map[string]any{"s[": date}}, `[{"s[":"2024-01-31"}]`},
		{"MAP(DATE, TIME[])", om, `{"2024-01-31":["15:04:05.123456"]}`},
		{"MAP(INTEGER, DATE)", duckdb.Map{int32(1): date}, `{"1":"2024-01-31"}`},
		{`MAP(VARCHAR, STRUCT("t" TIME))`, func() duckdb.OrderedMap {
			m := duckdb.OrderedMap{}
			m.Set("k", map[string]any{"t": clock})
			return m
		}(), `{"k":{"t":"15:04:05.123456"}}`},
		{`UNION("d" DATE, "u" UUID)`, duckdb.Union{Tag: "u", Value: uuid}, `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{`UNION("d" DATE, "u" UUID)`, duckdb.Union{Tag: "d", Value: date}, `"2024-01-31"`},
		{"DECIMAL(18,3)", duckdb.Decimal{Width: 18, Scale: 3, Value: big.NewInt(-1)}, `"-0.001"`},
		{"VARCHAR", "x", `"x"`},
		{"", int64(5), `5`},
	} {
		if got := mustJSON(t, converterFor(tc.typ)(tc.in)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.typ, got, tc.want)
		}
	}
}

func TestSplitTop(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"INTEGER", []string{"INTEGER"}},
		{"INTEGER, VARCHAR", []string{"INTEGER", "VARCHAR"}},
		{`"a" DECIMAL(18,3), "b,c" MAP(INTEGER, VARCHAR[])`, []string{`"a" DECIMAL(18,3)`, `"b,c" MAP(INTEGER, VARCHAR[])`}},
		{`"x"",y" INTEGER, "z" INTEGER`, []string{`"x"",y" INTEGER`, `"z" INTEGER`}},
	} {
		got := splitTop(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("splitTop(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
