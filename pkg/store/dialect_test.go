package store

import "testing"

func TestDialectSQL(t *testing.T) {
	tests := []struct{ query, sqlite, postgres string }{
		{"SELECT ? FROM t WHERE a = ? AND b = ?", "SELECT ? FROM t WHERE a = ? AND b = ?", "SELECT $1 FROM t WHERE a = $2 AND b = $3"},
		{"SELECT ?1, ?2 WHERE x = ?1 AND y = ?12", "SELECT ?1, ?2 WHERE x = ?1 AND y = ?12", "SELECT $1, $2 WHERE x = $1 AND y = $12"},
		{"CAST(? AS {time}) FROM {stage_records}", "CAST(? AS INTEGER) FROM temp.kizuna_stage_records", "CAST($1 AS timestamptz) FROM pg_temp.kizuna_stage_records"},
	}
	for _, tc := range tests {
		if got := sqliteDialect.sql(tc.query); got != tc.sqlite {
			t.Errorf("sqlite: %q became %q, want %q", tc.query, got, tc.sqlite)
		}
		if got := postgresDialect.sql(tc.query); got != tc.postgres {
			t.Errorf("postgres: %q became %q, want %q", tc.query, got, tc.postgres)
		}
	}
}

func TestValuesList(t *testing.T) {
	if got, want := valuesList(2, 3), "(?, ?, ?), (?, ?, ?)"; got != want {
		t.Errorf("valuesList(2, 3) = %q, want %q", got, want)
	}
}
