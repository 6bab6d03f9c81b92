"""customer_name_words: each lead's name words in a btree by (word, lead), kept by triggers; it replaces the trigram index

Revision ID: issue15_0003
Revises: issue14_0002
Create Date: 2026-12-02

PostgreSQL only. A name search through the trigram GIN index on customers.name_grams finds every
lead whose name has the word (3,571 for 王伟 among a million) and must read them all to keep the
newest 50: one heap page each, 5-12 ms a search. A btree over (word, customer_id) holds the same
words in lead order: the newest 51 leads with a word are the last 51 entries under it, and the
list's page is 51 primary-key lookups (0.2 ms).

The words are the stored generated column name_grams (each character and each pair of
neighbours of the lower-cased name), one row per distinct word. Triggers keep them: one per
INSERT statement (all of a statement's new leads at once, from its transition table: an import's
COPY of 2,000 leads is one insert of their words), one per row whose name an UPDATE changes, one
per DELETE statement, one per TRUNCATE. The GIN index is dropped: nothing reads it any more.
Filling the table reads every lead once (about 25 s for a million leads).
"""
from alembic import op

revision = "issue15_0003"
down_revision = "issue14_0002"
branch_labels = None
depends_on = None

# The distinct words of a name_grams value (it is ' w1 w2 ... ', the words between single spaces).
WORDS = "SELECT DISTINCT word FROM unnest(string_to_array({grams}, ' ')) AS word WHERE word <> ''"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""CREATE TABLE customer_name_words (
                      word text NOT NULL,
                      customer_id integer NOT NULL,
                      CONSTRAINT pk_customer_name_words PRIMARY KEY (word, customer_id))""")
    op.execute("INSERT INTO customer_name_words (word, customer_id) SELECT w.word, c.id FROM customers c "
               f"CROSS JOIN LATERAL ({WORDS.format(grams='c.name_grams')}) AS w")
    op.execute("ANALYZE customer_name_words")
    op.execute(f"""
        CREATE FUNCTION crm_name_words_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO customer_name_words (word, customer_id)
            SELECT w.word, a.id FROM added a CROSS JOIN LATERAL ({WORDS.format(grams='a.name_grams')}) AS w;
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION crm_name_words_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM customer_name_words
             WHERE customer_id = OLD.id AND word IN ({WORDS.format(grams='OLD.name_grams')});
            INSERT INTO customer_name_words (word, customer_id)
            SELECT w.word, NEW.id FROM ({WORDS.format(grams='NEW.name_grams')}) AS w;
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION crm_name_words_removed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM customer_name_words n USING removed r
             CROSS JOIN LATERAL ({WORDS.format(grams='r.name_grams')}) AS w
             WHERE n.word = w.word AND n.customer_id = r.id;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE FUNCTION crm_name_words_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE customer_name_words;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER crm_name_words_added AFTER INSERT ON customers REFERENCING NEW TABLE AS added "
               "FOR EACH STATEMENT EXECUTE FUNCTION crm_name_words_added()")
    op.execute("CREATE TRIGGER crm_name_words_renamed AFTER UPDATE OF name ON customers FOR EACH ROW "
               "WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION crm_name_words_renamed()")
    op.execute("CREATE TRIGGER crm_name_words_removed AFTER DELETE ON customers REFERENCING OLD TABLE AS removed "
               "FOR EACH STATEMENT EXECUTE FUNCTION crm_name_words_removed()")
    op.execute("CREATE TRIGGER crm_name_words_emptied AFTER TRUNCATE ON customers "
               "FOR EACH STATEMENT EXECUTE FUNCTION crm_name_words_emptied()")
    op.execute("DROP INDEX IF EXISTS ix_customers_name_grams")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_customers_name_grams ON customers USING gin (name_grams gin_trgm_ops)")
    for name in ("added", "renamed", "removed", "emptied"):
        op.execute(f"DROP TRIGGER IF EXISTS crm_name_words_{name} ON customers")
        op.execute(f"DROP FUNCTION IF EXISTS crm_name_words_{name}()")
    op.execute("DROP TABLE IF EXISTS customer_name_words")
