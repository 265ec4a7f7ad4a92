// The request log's writes on PostgreSQL: a batch goes as one JSON parameter that
// `json_to_recordset` turns back into rows, so a batch of thousands of records (or rollup
// rows) is one short statement — not thousands of parameters for the server to parse and
// plan each time, nor a value at a time for the driver to escape. Column types are read
// from the catalog once, so the statements follow the tables as migrations left them.
import { type Kysely, sql, type Transaction } from 'kysely';
import { type RollupUpsert, SUMMED } from './rollups.js';
import type { Database, LogsTable } from './schema.js';

type Row = Record<string, unknown>;

export class PostgresBulk {
  /** Per table: each column's type (its catalog name), by snake_case name. */
  private readonly types = new Map<string, Promise<Map<string, string>>>();

  constructor(private readonly column: (name: string) => string) {}

  private typesOf(db: Kysely<Database>, table: string): Promise<Map<string, string>> {
    let types = this.types.get(table);
    if (!types) {
      types = sql<{ name: string; type: string }>`select column_name as name, udt_name as type
        from information_schema.columns where table_schema = current_schema() and table_name = ${table}`
        .execute(db)
        .then(({ rows }) => new Map(rows.map((row) => [row.name, row.type])));
      // A failed read (the database away) is asked again next time.
      types.catch(() => this.types.delete(table));
      this.types.set(table, types);
    }
    return types;
  }

  /** `select * from json_to_recordset($1) as rows("id" text, "ts" int8, …)` over the rows' columns. */
  private async rowsOf(db: Kysely<Database>, table: string, rows: readonly Row[], columns: readonly string[]) {
    const types = await this.typesOf(db, table);
    const definitions = columns.map((c) => {
      const type = types.get(this.column(c));
      if (!type) throw new Error(`${table} has no column ${this.column(c)}`);
      return `"${c}" ${type}`;
    });
    return sql`select * from json_to_recordset(${JSON.stringify(rows)}::json) as rows(${sql.raw(definitions.join(', '))})`;
  }

  private list(columns: readonly string[]) {
    return sql.raw(columns.map((c) => `"${this.column(c)}"`).join(', '));
  }

  /** Inserts the rows a record id does not hold yet; returns the ids inserted. */
  async insertLogs(trx: Transaction<Database>, rows: readonly LogsTable[]): Promise<Set<string>> {
    const first = rows[0];
    if (!first) return new Set();
    const columns = Object.keys(first);
    const { rows: inserted } = await sql<{ id: string }>`insert into logs (${this.list(columns)})
      ${await this.rowsOf(trx, 'logs', rows as unknown as Row[], columns)}
      on conflict (id) do nothing returning id`.execute(trx);
    return new Set(inserted.map((row) => row.id));
  }

  /** Rollup upserts inside the caller's transaction (the rows of a batch have distinct keys). */
  upsert(trx: Transaction<Database>): RollupUpsert {
    return async (table, key, rows) => {
      const first = rows[0];
      if (!first) return;
      const name = this.column(table);
      const columns = Object.keys(first);
      // Batches written at the same time lock shared rows in one order: no deadlock.
      const sorted = [...rows].sort((a, b) => {
        for (const k of key) {
          const x = a[k] as string | number;
          const y = b[k] as string | number;
          if (x !== y) return x < y ? -1 : 1;
        }
        return 0;
      });
      const quoted = (c: string) => `"${this.column(c)}"`;
      const updates = sql.raw(
        [
          ...SUMMED.map((c) => `${quoted(c)} = ${name}.${quoted(c)} + excluded.${quoted(c)}`),
          `${quoted('lastTs')} = greatest(${name}.${quoted('lastTs')}, excluded.${quoted('lastTs')})`,
        ].join(', '),
      );
      await sql`insert into ${sql.raw(name)} (${this.list(columns)})
        ${await this.rowsOf(trx, name, sorted as unknown as Row[], columns)}
        on conflict (${this.list(key)}) do update set ${updates}`.execute(trx);
    };
  }
}
