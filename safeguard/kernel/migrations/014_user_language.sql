-- The language each dashboard user reads it in (Welsh Language Standards: chosen per user).
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'cy'));
