-- Campaign events of messages that went to no address (webhooks) name the profile by its ID,
-- which identity links now resolve: the next link of each resolution starts over, so that the
-- events recorded before reach their profiles too.
UPDATE identity_link_state SET generation = -1;
