-- List analytics (lists.md): the activity series, tenure and source reports read a list's
-- subscribers by subscription date.
CREATE INDEX subscribers_list_subscribed ON subscribers (list_id, subscription_date);
