-- Whom a local authority calls about an agency's record: the agency register's contact (a team's
-- phone number or shared mailbox, never a person's private details).
ALTER TABLE agencies ADD COLUMN contact text;
